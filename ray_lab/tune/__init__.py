"""Sweeps on Ray Tune: spec files (`spec`, `distributions`, `load`), trials (`trainable`), the run (`run`,
`algorithms`) and the outputs (`results`, `report`, `plots`, `outputs`)."""

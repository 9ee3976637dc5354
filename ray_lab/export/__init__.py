"""ONNX export of trained policies (`ray-lab export`; optional extra: ``pip install 'ray-lab[export]'``)."""

from ray_lab.export.writer import EXPORTABLE, ExportResult, export_policy

__all__ = ["EXPORTABLE", "ExportResult", "export_policy"]

// Test helper (not part of the Unity package): runs RayLab.CommandLineArgs on its own arguments and
// prints what it parsed, one "key=value" line each, so that tests/test_unity_csharp.py can compare
// the C# parser with the argv that Python's player_command emits. Built with mcs, run with mono.
// Exit code: 0 for a valid command line, CommandLineArgs.UsageExitCode (2) otherwise.

using System;
using System.Globalization;
using RayLab;

static class ArgsProbe
{
    static string Show(float? value)
    {
        return value.HasValue ? value.Value.ToString("R", CultureInfo.InvariantCulture) : "none";
    }

    static string Show(int? value)
    {
        return value.HasValue ? value.Value.ToString(CultureInfo.InvariantCulture) : "none";
    }

    static int Main(string[] argv)
    {
        CommandLineArgs args = CommandLineArgs.Parse(argv);
        Console.WriteLine("ros_ip=" + (args.RosIp ?? "none"));
        Console.WriteLine("ros_port=" + Show(args.RosPort));
        Console.WriteLine("environment_id=" + args.EnvironmentId.ToString(CultureInfo.InvariantCulture));
        Console.WriteLine("env_name=" + (args.EnvName ?? "none"));
        Console.WriteLine("time_scale=" + Show(args.TimeScale));
        Console.WriteLine("sample_time=" + Show(args.SampleTime));
        Console.WriteLine("fixed_delta_time=" + Show(args.FixedDeltaTime));
        Console.WriteLine("fixed_updates_per_step=" + Show(args.FixedUpdatesPerStep));
        Console.WriteLine("pause=" + (args.Pause ? "true" : "false"));
        Console.WriteLine("agents=" + Show(args.Agents));
        // The time scale a scene with the defaults 0.02 s x 5 would use.
        float fixedDeltaTime = args.FixedDeltaTime ?? 0.02f;
        int fixedUpdatesPerStep = args.FixedUpdatesPerStep ?? 5;
        Console.WriteLine("resolved_time_scale=" + Show(args.ResolveTimeScale(fixedDeltaTime, fixedUpdatesPerStep)));
        foreach (string ignored in args.Ignored)
            Console.WriteLine("ignored=" + ignored);
        foreach (string error in args.Errors)
            Console.WriteLine("error=" + error);
        return args.IsValid ? 0 : CommandLineArgs.UsageExitCode;
    }
}

// ray-lab: the player's command line, parsed and validated.
//
// ray-lab starts every player with the argv of unity_workers/launcher/command.py (player_command):
//
//   <build> [-batchmode [-nographics]] -logFile <path> --ros-ip <ip> --ros-port <port>
//           --environment-id <id> [--time-scale <x>] [--sample-time <s>] [--fixed-delta-time <s>]
//           [--fixed-updates-per-step <n>] [--pause] [--agents <n>] [extra args...]
//
// Unity handles its own single-dash flags (-batchmode, -nographics, -logFile); this parser ignores
// them and every other argument it does not know, as the Python reference simulator does.
// Both "--flag value" and "--flag=value" are accepted; when a flag repeats, the last one wins.
//
// This file uses nothing but the .NET base library, so it can be unit-tested outside Unity (the
// ray-lab test suite runs it under Mono with the argv that player_command produces).

using System;
using System.Collections.Generic;
using System.Globalization;

namespace RayLab
{
    /// <summary>The ray-lab options of one player process, parsed from its command line.</summary>
    public sealed class CommandLineArgs
    {
        /// <summary>Exit code for an invalid command line (argparse uses the same).</summary>
        public const int UsageExitCode = 2;

        /// <summary>Bridge host, or null when --ros-ip was not given (keep the ROS Settings value).</summary>
        public string RosIp { get; private set; }

        /// <summary>Bridge port, or null when --ros-port was not given (keep the ROS Settings value).</summary>
        public int? RosPort { get; private set; }

        /// <summary>Index N of the services /&lt;env-name&gt;_N/step and /&lt;env-name&gt;_N/reset.</summary>
        public int EnvironmentId { get; private set; }

        /// <summary>Service prefix override (--env-name; ray-lab's launcher does not send it).</summary>
        public string EnvName { get; private set; }

        /// <summary>--time-scale, when given.</summary>
        public float? TimeScale { get; private set; }

        /// <summary>--sample-time (seconds per agent step, wall clock), when given.</summary>
        public float? SampleTime { get; private set; }

        /// <summary>--fixed-delta-time (seconds per physics update), when given.</summary>
        public float? FixedDeltaTime { get; private set; }

        /// <summary>--fixed-updates-per-step (physics updates per agent step), when given.</summary>
        public int? FixedUpdatesPerStep { get; private set; }

        /// <summary>--pause: freeze Time.timeScale at 0, so only step requests move the scene.</summary>
        public bool Pause { get; private set; }

        /// <summary>--agents (agents this player serves; 2 or more: the batch services), when given.</summary>
        public int? Agents { get; private set; }

        readonly List<string> m_Errors = new List<string>();
        readonly List<string> m_Ignored = new List<string>();

        /// <summary>One line per invalid flag; empty when the command line is valid.</summary>
        public IList<string> Errors { get { return m_Errors.AsReadOnly(); } }

        /// <summary>Arguments this parser does not know (Unity's own flags among them).</summary>
        public IList<string> Ignored { get { return m_Ignored.AsReadOnly(); } }

        /// <summary>Whether the command line had no invalid flag.</summary>
        public bool IsValid { get { return m_Errors.Count == 0; } }

        CommandLineArgs() { }

        /// <summary>Parse this process's command line (Environment.GetCommandLineArgs() without argv[0]).</summary>
        public static CommandLineArgs FromEnvironment()
        {
            string[] argv = Environment.GetCommandLineArgs();
            var args = new string[Math.Max(0, argv.Length - 1)];
            Array.Copy(argv, 1, args, 0, args.Length);
            return Parse(args);
        }

        /// <summary>Parse <paramref name="args"/> (the arguments after the executable). Never throws for
        /// bad input: problems are collected in <see cref="Errors"/>.</summary>
        public static CommandLineArgs Parse(IList<string> args)
        {
            if (args == null)
                throw new ArgumentNullException("args");
            var result = new CommandLineArgs();
            for (int i = 0; i < args.Count; i++)
            {
                string arg = args[i] ?? "";
                string flag = arg;
                string inlineValue = null;
                int eq = arg.IndexOf('=');
                if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2)
                {
                    flag = arg.Substring(0, eq);
                    inlineValue = arg.Substring(eq + 1);
                }

                if (flag == "--pause")
                {
                    if (inlineValue != null)
                        result.m_Errors.Add("--pause takes no value, got '" + arg + "'");
                    result.Pause = true;
                    continue;
                }
                if (!TakesValue(flag))
                {
                    result.m_Ignored.Add(arg);
                    continue;
                }

                string value = inlineValue;
                if (value == null)
                {
                    // A following "--xxx" is the next flag, not a value (negative numbers stay values).
                    if (i + 1 >= args.Count || (args[i + 1] ?? "").StartsWith("--", StringComparison.Ordinal))
                    {
                        result.m_Errors.Add(flag + " needs a value");
                        continue;
                    }
                    value = args[++i] ?? "";
                }
                result.Apply(flag, value);
            }
            return result;
        }

        static bool TakesValue(string flag)
        {
            switch (flag)
            {
                case "--ros-ip":
                case "--ros-port":
                case "--environment-id":
                case "--env-name":
                case "--time-scale":
                case "--sample-time":
                case "--fixed-delta-time":
                case "--fixed-updates-per-step":
                case "--agents":
                    return true;
                default:
                    return false;
            }
        }

        void Apply(string flag, string value)
        {
            switch (flag)
            {
                case "--ros-ip":
                    if (value.Trim().Length == 0)
                        m_Errors.Add("--ros-ip must not be empty");
                    else
                        RosIp = value.Trim();
                    break;
                case "--ros-port":
                    RosPort = ParseInt(flag, value, 1, 65535, "an integer in 1..65535");
                    break;
                case "--environment-id":
                    EnvironmentId = ParseInt(flag, value, 0, int.MaxValue, "an integer >= 0") ?? EnvironmentId;
                    break;
                case "--env-name":
                    if (value.Length == 0 || value.IndexOf('/') >= 0)
                        m_Errors.Add("--env-name must be a non-empty name without '/', got '" + value + "'");
                    else
                        EnvName = value;
                    break;
                case "--time-scale":
                    TimeScale = ParsePositive(flag, value);
                    break;
                case "--sample-time":
                    SampleTime = ParsePositive(flag, value);
                    break;
                case "--fixed-delta-time":
                    FixedDeltaTime = ParsePositive(flag, value);
                    break;
                case "--fixed-updates-per-step":
                    FixedUpdatesPerStep = ParseInt(flag, value, 1, int.MaxValue, "an integer >= 1");
                    break;
                case "--agents":
                    Agents = ParseInt(flag, value, 1, int.MaxValue, "an integer >= 1");
                    break;
            }
        }

        int? ParseInt(string flag, string value, int min, int max, string expected)
        {
            int parsed;
            if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out parsed)
                && parsed >= min && parsed <= max)
                return parsed;
            m_Errors.Add(flag + " must be " + expected + ", got '" + value + "'");
            return null;
        }

        float? ParsePositive(string flag, string value)
        {
            // Invariant culture: "0.02" must not depend on the machine's locale (',' decimal separators).
            double parsed;
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out parsed)
                && parsed > 0 && parsed <= float.MaxValue)
                return (float)parsed;
            m_Errors.Add(flag + " must be a finite number > 0, got '" + value + "'");
            return null;
        }

        /// <summary>The time scale to use: --time-scale when given, else derived from --sample-time as
        /// sample_time / fixed_delta_time / fixed_updates_per_step (as the seed project's builds did),
        /// else null (leave Time.timeScale alone).</summary>
        public float? ResolveTimeScale(float fixedDeltaTime, int fixedUpdatesPerStep)
        {
            if (TimeScale.HasValue)
                return TimeScale;
            if (SampleTime.HasValue && fixedDeltaTime > 0 && fixedUpdatesPerStep > 0)
                return SampleTime.Value / fixedDeltaTime / fixedUpdatesPerStep;
            return null;
        }
    }
}

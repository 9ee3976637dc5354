// DECLARATIONS ONLY, for compile-checking the ray-lab Unity package with Mono's mcs outside Unity
// (tests/test_unity_csharp.py). Nothing here runs: every body throws.
//
// Stand-ins for the C# classes that ROS-TCP-Connector v0.7.0's message generation (Robotics >
// Generate ROS Messages..., ROS2 protocol) writes for unity_workers/interfaces/ray_lab_interfaces,
// which a Unity project compiles into the RayLab.Interfaces assembly: namespace, class names, field
// names and C# field types as the generator produces them (float32 -> float, uint32 -> uint,
// int64 -> long, float64 -> double, T[] -> T[], NavState -> NavStateMsg, a type of another package
// relative to RosMessageTypes: sensor_msgs/Image -> Sensor.ImageMsg; a srv gives <Srv>Request and
// <Srv>Response), and the constructor taking every field in order. The test suite checks the fields
// against the .msg/.srv files.

using Unity.Robotics.ROSTCPConnector.MessageGeneration;

namespace RosMessageTypes.RayLabInterfaces
{
    public class NavStateMsg : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/NavState";
        public float[] lidar_ranges;
        public float robot_x;
        public float robot_y;
        public float robot_yaw;
        public float target_x;
        public float target_y;
        public float distance_to_target;
        public bool collided;
        public bool reached_target;
        public bool truncated;
        public long step_count;
        public Sensor.ImageMsg camera;

        public NavStateMsg() { throw null; }
        public NavStateMsg(float[] lidar_ranges, float robot_x, float robot_y, float robot_yaw, float target_x,
            float target_y, float distance_to_target, bool collided, bool reached_target, bool truncated,
            long step_count, Sensor.ImageMsg camera) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentStepRequest : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentStep";
        public int stamp_sec;
        public uint stamp_nanosec;
        public float[] action;

        public EnvironmentStepRequest() { throw null; }
        public EnvironmentStepRequest(int stamp_sec, uint stamp_nanosec, float[] action) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentStepResponse : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentStep";
        public int stamp_sec;
        public uint stamp_nanosec;
        public NavStateMsg state;

        public EnvironmentStepResponse() { throw null; }
        public EnvironmentStepResponse(int stamp_sec, uint stamp_nanosec, NavStateMsg state) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentResetRequest : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentReset";
        public int stamp_sec;
        public uint stamp_nanosec;
        public bool reset;
        public long seed;
        public string[] parameter_names;
        public double[] parameter_values;

        public EnvironmentResetRequest() { throw null; }
        public EnvironmentResetRequest(int stamp_sec, uint stamp_nanosec, bool reset, long seed,
            string[] parameter_names, double[] parameter_values) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentResetResponse : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentReset";
        public int stamp_sec;
        public uint stamp_nanosec;
        public NavStateMsg state;
        public string[] accepted_parameters;

        public EnvironmentResetResponse() { throw null; }
        public EnvironmentResetResponse(int stamp_sec, uint stamp_nanosec, NavStateMsg state,
            string[] accepted_parameters) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentStepBatchRequest : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentStepBatch";
        public int stamp_sec;
        public uint stamp_nanosec;
        public float[] actions;

        public EnvironmentStepBatchRequest() { throw null; }
        public EnvironmentStepBatchRequest(int stamp_sec, uint stamp_nanosec, float[] actions) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentStepBatchResponse : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentStepBatch";
        public int stamp_sec;
        public uint stamp_nanosec;
        public NavStateMsg[] states;

        public EnvironmentStepBatchResponse() { throw null; }
        public EnvironmentStepBatchResponse(int stamp_sec, uint stamp_nanosec, NavStateMsg[] states) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentResetBatchRequest : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentResetBatch";
        public int stamp_sec;
        public uint stamp_nanosec;
        public bool reset;
        public int[] agents;
        public long[] seeds;
        public string[] parameter_names;
        public double[] parameter_values;

        public EnvironmentResetBatchRequest() { throw null; }
        public EnvironmentResetBatchRequest(int stamp_sec, uint stamp_nanosec, bool reset, int[] agents, long[] seeds,
            string[] parameter_names, double[] parameter_values) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class EnvironmentResetBatchResponse : Message
    {
        public const string k_RosMessageName = "ray_lab_interfaces/EnvironmentResetBatch";
        public int stamp_sec;
        public uint stamp_nanosec;
        public NavStateMsg[] states;
        public string[] accepted_parameters;

        public EnvironmentResetBatchResponse() { throw null; }
        public EnvironmentResetBatchResponse(int stamp_sec, uint stamp_nanosec, NavStateMsg[] states,
            string[] accepted_parameters) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }
}

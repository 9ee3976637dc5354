// DECLARATIONS ONLY, for compile-checking the ray-lab Unity package with Mono's mcs outside Unity
// (tests/test_unity_csharp.py). Nothing here runs: every body throws.
//
// Mirrors the message classes that ROS-TCP-Connector v0.7.0 (com.unity.robotics.ros-tcp-connector
// 0.7.0-preview) ships in assembly Unity.Robotics.ROSTCPConnector.Messages, as compiled with the ROS2
// scripting define (Robotics > ROS Settings > Protocol: ROS2), which ray-lab's bridge requires: fields,
// constructors and ROS names of the messages the package uses.

using Unity.Robotics.ROSTCPConnector.MessageGeneration;

namespace RosMessageTypes.BuiltinInterfaces
{
    public class TimeMsg : Message
    {
#if !ROS2
        public const string k_RosMessageName = "std_msgs/Time";
        public uint sec;
        public uint nanosec;
        public TimeMsg() { throw null; }
        public TimeMsg(uint sec, uint nanosec) { throw null; }
#else
        public const string k_RosMessageName = "builtin_interfaces/Time";
        public int sec;
        public uint nanosec;
        public TimeMsg() { throw null; }
        public TimeMsg(int sec, uint nanosec) { throw null; }
#endif
        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }
}

namespace RosMessageTypes.Std
{
    public class HeaderMsg : Message
    {
        public const string k_RosMessageName = "std_msgs/Header";
#if !ROS2
        public uint seq;
#endif
        public BuiltinInterfaces.TimeMsg stamp;
        public string frame_id;

        public HeaderMsg() { throw null; }
#if !ROS2
        public HeaderMsg(uint seq, BuiltinInterfaces.TimeMsg stamp, string frame_id) { throw null; }
#else
        public HeaderMsg(BuiltinInterfaces.TimeMsg stamp, string frame_id) { throw null; }
#endif
        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }
}

namespace RosMessageTypes.Sensor
{
    public class LaserScanMsg : Message
    {
        public const string k_RosMessageName = "sensor_msgs/LaserScan";
        public Std.HeaderMsg header;
        public float angle_min;
        public float angle_max;
        public float angle_increment;
        public float time_increment;
        public float scan_time;
        public float range_min;
        public float range_max;
        public float[] ranges;
        public float[] intensities;

        public LaserScanMsg() { throw null; }
        public LaserScanMsg(Std.HeaderMsg header, float angle_min, float angle_max, float angle_increment,
            float time_increment, float scan_time, float range_min, float range_max, float[] ranges,
            float[] intensities) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }

    public class ImageMsg : Message
    {
        public const string k_RosMessageName = "sensor_msgs/Image";
        public Std.HeaderMsg header;
        public uint height;
        public uint width;
        public string encoding;
        public byte is_bigendian;
        public uint step;
        public byte[] data;

        // The default constructor gives an empty image (0 x 0, encoding "", no data).
        public ImageMsg() { throw null; }
        public ImageMsg(Std.HeaderMsg header, uint height, uint width, string encoding, byte is_bigendian, uint step,
            byte[] data) { throw null; }

        public override string RosMessageName { get { throw null; } }
        public override void SerializeTo(MessageSerializer serializer) { throw null; }
    }
}

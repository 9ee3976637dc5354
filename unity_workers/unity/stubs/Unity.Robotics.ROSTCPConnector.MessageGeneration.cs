// DECLARATIONS ONLY, for compile-checking the ray-lab Unity package with Mono's mcs outside Unity
// (tests/test_unity_csharp.py). Nothing here runs: every body throws.
//
// Mirrors the public API of ROS-TCP-Connector v0.7.0 (package com.unity.robotics.ros-tcp-connector
// 0.7.0-preview), assembly Unity.Robotics.ROSTCPConnector.MessageGeneration: the base class of every
// generated message, limited to what the package and the message stubs need.

namespace Unity.Robotics.ROSTCPConnector.MessageGeneration
{
    /// <summary>Base class of every message class that ROS-TCP-Connector generates.</summary>
    public abstract class Message
    {
        public abstract string RosMessageName { get; }
        public abstract void SerializeTo(MessageSerializer serializer);
    }

    /// <summary>Writes messages in ROS (ROS2: CDR) wire format.</summary>
    public class MessageSerializer
    {
    }
}

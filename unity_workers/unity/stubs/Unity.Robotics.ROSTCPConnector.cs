// DECLARATIONS ONLY, for compile-checking the ray-lab Unity package with Mono's mcs outside Unity
// (tests/test_unity_csharp.py). Nothing here runs: every body throws.
//
// Mirrors the public API of ROS-TCP-Connector v0.7.0 (package com.unity.robotics.ros-tcp-connector
// 0.7.0-preview, Runtime/TcpConnector/ROSConnection.cs), assembly Unity.Robotics.ROSTCPConnector,
// limited to the members the package uses, with their real signatures (overloads included where
// they take part in overload resolution, as the two ImplementService variants do).

using System;
using System.Threading.Tasks;
using Unity.Robotics.ROSTCPConnector.MessageGeneration;
using UnityEngine;

namespace Unity.Robotics.ROSTCPConnector
{
    public class ROSConnection : MonoBehaviour
    {
        public const string k_Version = "v0.7.0";

        public string RosIPAddress { get { throw null; } set { } }
        public int RosPort { get { throw null; } set { } }
        public bool ConnectOnStart { get { throw null; } set { } }
        public float SleepTimeSeconds { get { throw null; } set { } }
        public bool ShowHud { get { throw null; } set { } }
        public bool HasConnectionError { get { throw null; } }

        public static ROSConnection GetOrCreateInstance() { throw null; }

        public void Connect() { throw null; }
        public void Connect(string ipAddress, int port) { throw null; }
        public void Disconnect() { throw null; }

        // Queue a system command (JsonUtility.ToJson(param)); sent after the registrations of a connection.
        public void QueueSysCommand(string command, object param) { throw null; }

        // Implement a service in Unity (called on the main thread; the return value is the response).
        public void ImplementService<TRequest, TResponse>(string topic, Func<TRequest, TResponse> callback,
            int? queueSize = null)
            where TRequest : Message
            where TResponse : Message
        { throw null; }

        // The asynchronous variant.
        public void ImplementService<TRequest, TResponse>(string topic, Func<TRequest, Task<TResponse>> callback,
            int? queueSize = null)
            where TRequest : Message
            where TResponse : Message
        { throw null; }

        public RosTopicState RegisterPublisher<T>(string rosTopicName, int? queue_size = null, bool? latch = null)
            where T : Message
        { throw null; }

        public void Publish(string rosTopicName, Message message) { throw null; }
    }

    /// <summary>What ROSConnection knows about one topic or service.</summary>
    public class RosTopicState
    {
        public string Topic { get { throw null; } }
        public string RosMessageName { get { throw null; } }
    }
}

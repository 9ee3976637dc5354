// ray-lab: applies the command line to ROS-TCP-Connector and connects to ray-lab's bridge.
//
// ROSConnection reads host and port from its settings asset and has no command-line override, and
// with "Connect on Startup" ticked it connects to that default in its own Start(). ray-lab gives
// every player its own bridge port, so this component, in Awake (before any Start):
//   1. parses the command line (CommandLineArgs) and quits with exit code 2 on an invalid one,
//   2. turns ConnectOnStart off, sets RosIPAddress/RosPort from --ros-ip/--ros-port,
//   3. connects in its own Start(), after the arguments are applied,
//   4. proves the per-launch token: ray-lab's bridge serves only a connection that sends
//      `__ray_lab_token {"token": ...}`, with the token the launcher put in the environment variable
//      RAY_LAB_ROS_TCP_TOKEN (environment, not command line: other users cannot read it in `ps`).
//      ROSConnection sends what was queued right after its registrations, on each connection, and
//      clears the queue when a connection drops, so the token is queued before Connect() and again
//      while the connection waits for its first answer (the bridge answers only after the token).
// Untick "Connect on Startup" in Robotics > ROS Settings as well, so that a scene without this
// component never connects to the default port by accident.
//
// Put it on the same GameObject as your EnvironmentServer subclass (which requires it).

using System;
using Unity.Robotics.ROSTCPConnector;
using UnityEngine;

namespace RayLab
{
    [DisallowMultipleComponent]
    [DefaultExecutionOrder(-1000)]
    public class RayLabConnection : MonoBehaviour
    {
        [Tooltip("Seconds ROS-TCP-Connector's reader sleeps while waiting for data. Its default (0.01) adds up to " +
                 "10 ms to every step; 0.001 keeps the round trip short.")]
        [SerializeField] float connectorSleepSeconds = 0.001f;

        [Tooltip("Frame-rate cap. Service requests are handled once per frame (in ROSConnection.Update), so a " +
                 "low cap limits steps per second; -1 is uncapped (busy-waits a core while idle).")]
        [SerializeField] int targetFrameRate = 1000;

        [Tooltip("Quit (exit code 1) when no bridge has answered for this many seconds (0: wait forever). " +
                 "Stops orphaned players when the training process is gone.")]
        [SerializeField] float quitAfterNoBridgeSeconds = 120f;

        [Tooltip("While a connection waits for the bridge's first answer, queue the token again this often " +
                 "(seconds); a dropped connection clears ROS-TCP-Connector's queue.")]
        [SerializeField] float tokenResendSeconds = 0.5f;

        /// <summary>Environment variable with the per-launch token of the bridge (set by ray-lab's launcher).</summary>
        public const string TokenVariable = "RAY_LAB_ROS_TCP_TOKEN";

        /// <summary>System command that proves the token to ray-lab's bridge.</summary>
        public const string TokenCommand = "__ray_lab_token";

        [Serializable]
        class TokenParams
        {
            public string token;
        }

        CommandLineArgs m_Args;
        ROSConnection m_Ros;
        bool m_Failed;
        float m_LastHealthyRealtime;
        string m_Token;
        float m_LastTokenRealtime;

        /// <summary>The parsed command line (null until initialized or when it was invalid).</summary>
        public CommandLineArgs Args { get { return m_Failed ? null : m_Args; } }

        /// <summary>The connection this component configured (null until initialized or on failure).</summary>
        public ROSConnection Ros { get { return m_Failed ? null : m_Ros; } }

        /// <summary>Whether the command line was invalid (the player is quitting).</summary>
        public bool Failed { get { return m_Failed; } }

        void Awake()
        {
            Initialize();
        }

        /// <summary>Parse the command line and configure ROSConnection, once; later calls return the
        /// first result. Returns false when the command line was invalid (Application.Quit(2) called).</summary>
        public bool Initialize()
        {
            if (m_Args != null)
                return !m_Failed;

            m_Args = CommandLineArgs.FromEnvironment();
            if (!m_Args.IsValid)
            {
                m_Failed = true;
                foreach (string error in m_Args.Errors)
                    Debug.LogError("ray-lab: invalid command line: " + error);
                Application.Quit(CommandLineArgs.UsageExitCode);
                enabled = false;
                return false;
            }
            if (m_Args.Ignored.Count > 0)
                Debug.Log("ray-lab: ignoring arguments: " + string.Join(" ", m_Args.Ignored));

            // Keep running when unfocused (windowed `ray-lab play`), and do not wait for vertical sync.
            Application.runInBackground = true;
            QualitySettings.vSyncCount = 0;
            Application.targetFrameRate = targetFrameRate;

            m_Ros = ROSConnection.GetOrCreateInstance();
            m_Ros.ConnectOnStart = false; // its Start() must not connect to the settings' default port
            if (m_Args.RosIp != null)
                m_Ros.RosIPAddress = m_Args.RosIp;
            if (m_Args.RosPort.HasValue)
                m_Ros.RosPort = m_Args.RosPort.Value;
            if (connectorSleepSeconds > 0)
                m_Ros.SleepTimeSeconds = connectorSleepSeconds;
            if (Application.isBatchMode)
                m_Ros.ShowHud = false;
            m_Token = Environment.GetEnvironmentVariable(TokenVariable);
            if (string.IsNullOrEmpty(m_Token))
                m_Token = null; // not launched by ray-lab, or environment.unity.require_token is off
            return true;
        }

        /// <summary>Queue the token command on ROSConnection (sent after its registrations).</summary>
        void QueueToken()
        {
            if (m_Token == null)
                return;
            m_Ros.QueueSysCommand(TokenCommand, new TokenParams { token = m_Token });
            m_LastTokenRealtime = Time.realtimeSinceStartup;
        }

        void Start()
        {
            if (!Initialize())
                return;
            Debug.Log("ray-lab: connecting to the bridge at " + m_Ros.RosIPAddress + ":" + m_Ros.RosPort +
                      (m_Token != null ? " (with its token)" : ""));
            QueueToken();
            m_Ros.Connect();
            m_LastHealthyRealtime = Time.realtimeSinceStartup;
        }

        void Update()
        {
            if (m_Failed || m_Ros == null)
                return;
            // Real time, not scaled time: --pause sets Time.timeScale to 0.
            float now = Time.realtimeSinceStartup;
            if (m_Ros.HasConnectionError && now - m_LastTokenRealtime >= tokenResendSeconds)
                QueueToken(); // a (re)connection waits for it; the bridge ignores repeats
            if (quitAfterNoBridgeSeconds <= 0)
                return;
            if (!m_Ros.HasConnectionError)
            {
                m_LastHealthyRealtime = now;
            }
            else if (now - m_LastHealthyRealtime > quitAfterNoBridgeSeconds)
            {
                Debug.LogError("ray-lab: no bridge at " + m_Ros.RosIPAddress + ":" + m_Ros.RosPort + " for " +
                               quitAfterNoBridgeSeconds + " s; quitting");
                enabled = false;
                Application.Quit(1);
            }
        }
    }
}

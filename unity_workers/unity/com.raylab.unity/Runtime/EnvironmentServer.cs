// ray-lab: base class of a Unity environment that ray-lab trains on.
//
// It implements the two ROS services ray-lab calls (ray_lab_interfaces/srv/EnvironmentStep.srv and
// EnvironmentReset.srv, generated into C# with ROS-TCP-Connector's message generation):
//   /<environmentName>_<environment-id>/step   apply the action, advance physics one agent step,
//                                              answer the simulated time and the state
//   /<environmentName>_<environment-id>/reset  reset the scene (seeded when seed >= 0), answer the state
//
// Physics does not run by itself: Physics.simulationMode is set to Script and every step request
// calls Physics.Simulate(fixedDeltaTime) fixedUpdatesPerStep times. A step therefore always covers
// the same simulated time, whatever the frame rate, time scale or machine load: runs are repeatable.
// Code that would live in FixedUpdate belongs in BeforeSubstep/AfterSubstep, because FixedUpdate
// follows wall-clock time, not the steps.
//
// Service callbacks run on Unity's main thread (ROSConnection dispatches them from its Update), so
// subclasses may touch the scene freely. A subclass implements ApplyAction, ResetScene and BuildState.

using System;
using RosMessageTypes.RayLabInterfaces;
using Unity.Robotics.ROSTCPConnector;
using UnityEngine;

namespace RayLab
{
    [RequireComponent(typeof(RayLabConnection))]
    public abstract class EnvironmentServer : MonoBehaviour
    {
#if !ROS2
#error ray-lab's bridge speaks ROS 2 (CDR) serialization: set Robotics > ROS Settings > Protocol to ROS2 (defines ROS2).
#endif

        [Tooltip("Service prefix: /<name>_<environment-id>/step and /reset (--env-name overrides it). Must match " +
                 "the env_name of ray-lab's UnityEnv.")]
        [SerializeField] string environmentName = "nav";

        [Tooltip("Seconds per physics update (--fixed-delta-time overrides it).")]
        [SerializeField] float fixedDeltaTime = 0.02f;

        [Tooltip("Physics updates per agent step (--fixed-updates-per-step overrides it).")]
        [SerializeField] int fixedUpdatesPerStep = 5;

        RayLabConnection m_Connection;
        ROSConnection m_Ros;
        double m_SimTime;
        long m_StepCount;

        /// <summary>The connection to ray-lab's bridge (set once the services are registered).</summary>
        protected ROSConnection Ros { get { return m_Ros; } }

        /// <summary>"/&lt;environmentName&gt;_&lt;environment-id&gt;", the prefix of this env's services and topics.</summary>
        public string Namespace { get; private set; }

        /// <summary>Seconds per physics update in effect.</summary>
        public float FixedDeltaTime { get { return fixedDeltaTime; } }

        /// <summary>Physics updates per agent step in effect.</summary>
        public int FixedUpdatesPerStep { get { return fixedUpdatesPerStep; } }

        /// <summary>Simulated seconds since the last reset.</summary>
        public double SimTime { get { return m_SimTime; } }

        /// <summary>Steps taken since the last reset.</summary>
        public long StepCount { get { return m_StepCount; } }

        // ------------------------------------------------------------------ what a subclass writes

        /// <summary>Apply one agent action (the request's float32[] action), once per step, before the
        /// physics updates. Throw ArgumentException for a malformed action: the step is then answered
        /// with the unchanged state and the error is logged.</summary>
        protected abstract void ApplyAction(float[] action);

        /// <summary>Put the scene in a new episode's initial state. UnityEngine.Random has already been
        /// seeded when the request carried a seed, so draw all randomness from it.</summary>
        protected abstract void ResetScene();

        /// <summary>The state message of the current scene, for the step and reset answers.</summary>
        protected abstract NavStateMsg BuildState();

        /// <summary>Called before each of the fixedUpdatesPerStep physics updates of a step (drive
        /// controllers, motors and forces here).</summary>
        protected virtual void BeforeSubstep(int index, float deltaTime) { }

        /// <summary>Called after each physics update of a step (check contacts, goals, limits here).</summary>
        protected virtual void AfterSubstep(int index, float deltaTime) { }

        /// <summary>Register extra publishers (e.g. a LaserScan) once the services are registered.</summary>
        protected virtual void RegisterTopics(ROSConnection ros) { }

        /// <summary>Publish extra topics just before each step or reset answer.</summary>
        protected virtual void PublishTopics(ROSConnection ros) { }

        // ------------------------------------------------------------------ set-up

        protected virtual void Start()
        {
            m_Connection = GetComponent<RayLabConnection>();
            if (m_Connection == null || !m_Connection.Initialize())
            {
                enabled = false; // an invalid command line: RayLabConnection has logged it and is quitting
                return;
            }
            CommandLineArgs args = m_Connection.Args;
            if (args.FixedDeltaTime.HasValue)
                fixedDeltaTime = args.FixedDeltaTime.Value;
            if (args.FixedUpdatesPerStep.HasValue)
                fixedUpdatesPerStep = args.FixedUpdatesPerStep.Value;
            if (args.EnvName != null)
                environmentName = args.EnvName;
            if (fixedDeltaTime <= 0 || fixedUpdatesPerStep < 1)
            {
                Debug.LogError("ray-lab: need fixedDeltaTime > 0 and fixedUpdatesPerStep >= 1, got " + fixedDeltaTime +
                               " and " + fixedUpdatesPerStep);
                enabled = false;
                Application.Quit(CommandLineArgs.UsageExitCode);
                return;
            }

            // Physics advances only in HandleStep; the fixed timestep is kept equal for scripts that read it.
            Physics.simulationMode = SimulationMode.Script;
            Time.fixedDeltaTime = fixedDeltaTime;
            // The time scale only affects what runs per frame (animations, particles, Update code);
            // --pause freezes those, so the scene changes only when stepped.
            float? timeScale = args.ResolveTimeScale(fixedDeltaTime, fixedUpdatesPerStep);
            if (args.Pause)
                Time.timeScale = 0f;
            else if (timeScale.HasValue)
                Time.timeScale = timeScale.Value;

            Namespace = "/" + environmentName + "_" + args.EnvironmentId;
            m_Ros = m_Connection.Ros;
            m_Ros.ImplementService<EnvironmentStepRequest, EnvironmentStepResponse>(Namespace + "/step", HandleStep);
            m_Ros.ImplementService<EnvironmentResetRequest, EnvironmentResetResponse>(Namespace + "/reset", HandleReset);
            RegisterTopics(m_Ros);

            ResetScene();
            Physics.SyncTransforms();
            Debug.Log("ray-lab: serving " + Namespace + "/step and /reset (" + fixedUpdatesPerStep + " x " +
                      fixedDeltaTime + " s per step, time scale " + Time.timeScale + ")");
        }

        // ------------------------------------------------------------------ services

        EnvironmentStepResponse HandleStep(EnvironmentStepRequest request)
        {
            try
            {
                if (request.action == null)
                    throw new ArgumentException("the step request has no action");
                ApplyAction(request.action);
                float dt = fixedDeltaTime;
                for (int i = 0; i < fixedUpdatesPerStep; i++)
                {
                    BeforeSubstep(i, dt);
                    Physics.Simulate(dt);
                    AfterSubstep(i, dt);
                }
                m_SimTime += (double)dt * fixedUpdatesPerStep;
                m_StepCount++;
            }
            catch (ArgumentException e)
            {
                // Answer anyway (unchanged state): an unanswered call would stall ray-lab until its timeout.
                // Any other exception is a bug: it propagates, the call times out and ray-lab restarts the
                // player (within its restart quota), with the stack trace in the player log.
                Debug.LogError("ray-lab: " + Namespace + "/step rejected: " + e.Message);
            }
            NavStateMsg state = Answer();
            int sec;
            uint nanosec;
            Stamp(m_SimTime, out sec, out nanosec);
            return new EnvironmentStepResponse(sec, nanosec, state);
        }

        EnvironmentResetResponse HandleReset(EnvironmentResetRequest request)
        {
            if (request.reset)
            {
                if (request.seed >= 0)
                    UnityEngine.Random.InitState(FoldSeed(request.seed));
                m_SimTime = 0;
                m_StepCount = 0;
                ResetScene();
                Physics.SyncTransforms(); // moved transforms reach the physics scene before any query
            }
            NavStateMsg state = Answer();
            int sec;
            uint nanosec;
            Stamp(m_SimTime, out sec, out nanosec);
            return new EnvironmentResetResponse(sec, nanosec, state);
        }

        NavStateMsg Answer()
        {
            PublishTopics(m_Ros);
            return BuildState();
        }

        /// <summary>An int64 seed as UnityEngine.Random's int seed (distinct for small seeds, stable).</summary>
        public static int FoldSeed(long seed)
        {
            return unchecked((int)(seed ^ (seed >> 32)));
        }

        /// <summary>Seconds as the (int32 sec, uint32 nanosec) pair of the srv's stamp fields.</summary>
        public static void Stamp(double seconds, out int sec, out uint nanosec)
        {
            double whole = Math.Floor(seconds);
            sec = (int)whole;
            nanosec = (uint)Math.Min(999999999.0, Math.Round((seconds - whole) * 1e9));
        }
    }
}

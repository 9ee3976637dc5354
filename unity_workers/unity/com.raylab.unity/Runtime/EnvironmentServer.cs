// ray-lab: base class of a Unity environment that ray-lab trains on.
//
// It implements the two ROS services ray-lab calls (ray_lab_interfaces/srv/EnvironmentStep.srv and
// EnvironmentReset.srv, generated into C# with ROS-TCP-Connector's message generation):
//   /<environmentName>_<environment-id>/step   apply the action, advance physics one agent step,
//                                              answer the simulated time and the state
//   /<environmentName>_<environment-id>/reset  reset the scene (seeded when seed >= 0, with the
//                                              request's environment parameters), answer the state
//                                              and the names of the parameters the scene accepts
// With --agents N (N >= 2) the same names serve the batch services instead (EnvironmentStepBatch.srv,
// EnvironmentResetBatch.srv): a step moves every agent in one go (one Physics.Simulate per update for
// all of them), a reset resets only the agents it lists, and both answer every agent's state in agent
// order. An agent whose episode has ended (collided, reached_target or truncated) is not moved again
// until it is reset.
//
// Physics does not run by itself: Physics.simulationMode is set to Script and every step request
// calls Physics.Simulate(fixedDeltaTime) fixedUpdatesPerStep times. A step therefore always covers
// the same simulated time, whatever the frame rate, time scale or machine load: runs are repeatable.
// Code that would live in FixedUpdate belongs in BeforeSubstep/AfterSubstep, because FixedUpdate
// follows wall-clock time, not the steps.
//
// Environment parameters (environment.parameters in ray-lab's config) arrive with each reset as
// parameter_names/parameter_values and hold for that episode only. A scene declares the names it
// uses in AcceptedParameters (every reset answer lists them, sorted, so ray-lab can refuse a config
// naming one the scene would ignore), reads them in ApplyParameters or from Parameters while it
// resets, and keeps its Inspector defaults for the names a reset leaves out. Unknown names are
// dropped; a value count that does not match the names, or a non-finite value, is logged and ignored.
//
// Service callbacks run on Unity's main thread (ROSConnection dispatches them from its Update), so
// subclasses may touch the scene freely. A subclass implements ApplyAction, ResetScene and BuildState
// for one agent. A scene that holds several agent environments (e.g. copies of an arena, apart from
// each other) also overrides MaxAgents and the agent hooks (CreateAgents, ApplyAgentAction, ResetAgent,
// BuildAgentState, BeforeAgentSubstep, AfterAgentSubstep), whose defaults call the one-agent methods.
// While any hook runs, CurrentAgent, SimTime, StepCount and Parameters are those of the agent at hand.

using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
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

        [Tooltip("Agents this player serves (--agents overrides it). 2 or more serve the batch services and need " +
                 "a scene that holds that many agent environments (MaxAgents).")]
        [SerializeField] int agents = 1;

        static readonly IReadOnlyDictionary<string, double> k_NoParameters =
            new ReadOnlyDictionary<string, double>(new Dictionary<string, double>());

        RayLabConnection m_Connection;
        ROSConnection m_Ros;
        double[] m_SimTime = new double[1];
        long[] m_StepCount = new long[1];
        IReadOnlyDictionary<string, double>[] m_Parameters = { k_NoParameters };
        NavStateMsg[] m_LastStates;     // the states last answered (batch mode: an ended episode keeps its own)
        double m_PlayerTime;            // batch mode: simulated seconds, 0 after a reset of every agent
        string[] m_Accepted = new string[0];
        int m_Current;

        /// <summary>The connection to ray-lab's bridge (set once the services are registered).</summary>
        protected ROSConnection Ros { get { return m_Ros; } }

        /// <summary>"/&lt;environmentName&gt;_&lt;environment-id&gt;", the prefix of this env's services and topics.</summary>
        public string Namespace { get; private set; }

        /// <summary>Seconds per physics update in effect.</summary>
        public float FixedDeltaTime { get { return fixedDeltaTime; } }

        /// <summary>Physics updates per agent step in effect.</summary>
        public int FixedUpdatesPerStep { get { return fixedUpdatesPerStep; } }

        /// <summary>Agents this player serves (1 unless --agents says more).</summary>
        public int AgentCount { get { return m_SimTime.Length; } }

        /// <summary>The agent the running hook is about (always 0 with one agent).</summary>
        public int CurrentAgent { get { return m_Current; } }

        /// <summary>Simulated seconds since the current agent's last reset.</summary>
        public double SimTime { get { return m_SimTime[m_Current]; } }

        /// <summary>Steps the current agent took since its last reset.</summary>
        public long StepCount { get { return m_StepCount[m_Current]; } }

        /// <summary>The environment parameters of the current agent's episode: the accepted names its reset set
        /// (empty when it set none; the scene's defaults hold for the others).</summary>
        public IReadOnlyDictionary<string, double> Parameters { get { return m_Parameters[m_Current]; } }

        // ------------------------------------------------------------------ what a subclass writes

        /// <summary>Apply one agent action (the request's float32[] action), once per step, before the
        /// physics updates. Throw ArgumentException for a malformed action: the step is then answered
        /// with the unchanged state and the error is logged.</summary>
        protected abstract void ApplyAction(float[] action);

        /// <summary>Put the scene in a new episode's initial state. UnityEngine.Random has already been
        /// seeded when the request carried a seed, and Parameters holds the episode's parameters, so draw
        /// all randomness from UnityEngine.Random and read the parameters here (or in ApplyParameters).</summary>
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

        /// <summary>Publish extra topics just before each step or reset answer (agent 0's sensors).</summary>
        protected virtual void PublishTopics(ROSConnection ros) { }

        // ------------------------------------------------------------------ environment parameters

        /// <summary>The environment parameters this scene uses, by name (default: none). Every reset answer
        /// reports them, sorted, in accepted_parameters; a reset's other names are dropped.</summary>
        protected virtual IEnumerable<string> AcceptedParameters { get { return new string[0]; } }

        /// <summary>Called on every reset just before ResetScene (ResetAgent) with the new episode's
        /// parameters, the same as Parameters: set the episode's values here, the defaults for names it
        /// leaves out.</summary>
        protected virtual void ApplyParameters(IReadOnlyDictionary<string, double> parameters) { }

        // ------------------------------------------------------------------ several agents (--agents N)

        /// <summary>The most agents this scene can serve (default 1). --agents above it is an invalid
        /// command line: the player logs it and quits with exit code 2.</summary>
        protected virtual int MaxAgents { get { return 1; } }

        /// <summary>Prepare the scene for count agents (count &gt;= 2), once, before their first reset
        /// (e.g. instantiate copies of an arena).</summary>
        protected virtual void CreateAgents(int count) { }

        /// <summary>Apply agent's action (default: ApplyAction, for one-agent scenes).</summary>
        protected virtual void ApplyAgentAction(int agent, float[] action) { ApplyAction(action); }

        /// <summary>Start a new episode of agent only, leaving the other agents as they are (default: ResetScene).</summary>
        protected virtual void ResetAgent(int agent) { ResetScene(); }

        /// <summary>Agent's state message (default: BuildState).</summary>
        protected virtual NavStateMsg BuildAgentState(int agent) { return BuildState(); }

        /// <summary>BeforeSubstep for agent (default: BeforeSubstep); not called for an ended episode.</summary>
        protected virtual void BeforeAgentSubstep(int agent, int index, float deltaTime) { BeforeSubstep(index, deltaTime); }

        /// <summary>AfterSubstep for agent (default: AfterSubstep); not called for an ended episode.</summary>
        protected virtual void AfterAgentSubstep(int agent, int index, float deltaTime) { AfterSubstep(index, deltaTime); }

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
            if (args.Agents.HasValue)
                agents = args.Agents.Value;
            if (fixedDeltaTime <= 0 || fixedUpdatesPerStep < 1 || agents < 1 || agents > MaxAgents)
            {
                Debug.LogError("ray-lab: need fixedDeltaTime > 0, fixedUpdatesPerStep >= 1 and 1 <= agents <= " +
                               MaxAgents + " (this scene's MaxAgents), got " + fixedDeltaTime + ", " +
                               fixedUpdatesPerStep + " and " + agents);
                enabled = false;
                Application.Quit(CommandLineArgs.UsageExitCode);
                return;
            }

            // Physics advances only in the step handlers; the fixed timestep is kept equal for scripts that read it.
            Physics.simulationMode = SimulationMode.Script;
            Time.fixedDeltaTime = fixedDeltaTime;
            // The time scale only affects what runs per frame (animations, particles, Update code);
            // --pause freezes those, so the scene changes only when stepped.
            float? timeScale = args.ResolveTimeScale(fixedDeltaTime, fixedUpdatesPerStep);
            if (args.Pause)
                Time.timeScale = 0f;
            else if (timeScale.HasValue)
                Time.timeScale = timeScale.Value;

            m_Accepted = SortedNames(AcceptedParameters);
            m_SimTime = new double[agents];
            m_StepCount = new long[agents];
            m_Parameters = new IReadOnlyDictionary<string, double>[agents];
            m_LastStates = new NavStateMsg[agents];
            Namespace = "/" + environmentName + "_" + args.EnvironmentId;
            m_Ros = m_Connection.Ros;
            if (agents > 1)
            {
                CreateAgents(agents);
                m_Ros.ImplementService<EnvironmentStepBatchRequest, EnvironmentStepBatchResponse>(
                    Namespace + "/step", HandleStepBatch);
                m_Ros.ImplementService<EnvironmentResetBatchRequest, EnvironmentResetBatchResponse>(
                    Namespace + "/reset", HandleResetBatch);
            }
            else
            {
                m_Ros.ImplementService<EnvironmentStepRequest, EnvironmentStepResponse>(Namespace + "/step", HandleStep);
                m_Ros.ImplementService<EnvironmentResetRequest, EnvironmentResetResponse>(Namespace + "/reset", HandleReset);
            }
            RegisterTopics(m_Ros);

            for (int agent = 0; agent < agents; agent++)
                ResetOne(agent, k_NoParameters);
            Physics.SyncTransforms();
            m_Current = 0;
            Debug.Log("ray-lab: serving " + Namespace + "/step and /reset (" + agents + " agent(s), " +
                      fixedUpdatesPerStep + " x " + fixedDeltaTime + " s per step, time scale " + Time.timeScale +
                      ", parameters [" + string.Join(", ", m_Accepted) + "])");
        }

        // ------------------------------------------------------------------ services: one agent

        EnvironmentStepResponse HandleStep(EnvironmentStepRequest request)
        {
            m_Current = 0;
            try
            {
                if (request.action == null)
                    throw new ArgumentException("the step request has no action");
                ApplyAgentAction(0, request.action);
                Advance(new[] { true });
            }
            catch (ArgumentException e)
            {
                // Answer anyway (unchanged state): an unanswered call would stall ray-lab until its timeout.
                // Any other exception is a bug: it propagates, the call times out and ray-lab restarts the
                // player (within its restart quota), with the stack trace in the player log.
                Debug.LogError("ray-lab: " + Namespace + "/step rejected: " + e.Message);
            }
            NavStateMsg state = Answer()[0];
            int sec;
            uint nanosec;
            Stamp(m_SimTime[0], out sec, out nanosec);
            return new EnvironmentStepResponse(sec, nanosec, state);
        }

        EnvironmentResetResponse HandleReset(EnvironmentResetRequest request)
        {
            if (request.reset)
            {
                if (request.seed >= 0)
                    UnityEngine.Random.InitState(FoldSeed(request.seed));
                ResetOne(0, ParameterRows(request.parameter_names, request.parameter_values, 1)[0]);
                Physics.SyncTransforms(); // moved transforms reach the physics scene before any query
            }
            NavStateMsg state = Answer()[0];
            int sec;
            uint nanosec;
            Stamp(m_SimTime[0], out sec, out nanosec);
            return new EnvironmentResetResponse(sec, nanosec, state, m_Accepted);
        }

        // ------------------------------------------------------------------ services: several agents

        EnvironmentStepBatchResponse HandleStepBatch(EnvironmentStepBatchRequest request)
        {
            int n = AgentCount;
            float[] actions = request.actions ?? new float[0];
            if (actions.Length == 0 || actions.Length % n != 0)
            {
                Debug.LogError("ray-lab: " + Namespace + "/step rejected: expected " + n + " agents x the action " +
                               "size numbers, got " + actions.Length);
            }
            else
            {
                int size = actions.Length / n;
                var moving = new bool[n];
                for (int agent = 0; agent < n; agent++)
                {
                    if (Ended(m_LastStates[agent]))
                        continue; // an ended episode keeps its final state until the agent is reset
                    var action = new float[size];
                    Array.Copy(actions, agent * size, action, 0, size);
                    m_Current = agent;
                    try
                    {
                        ApplyAgentAction(agent, action);
                        moving[agent] = true;
                    }
                    catch (ArgumentException e)
                    {
                        Debug.LogError("ray-lab: " + Namespace + "/step: agent " + agent + " rejected: " + e.Message);
                    }
                }
                Advance(moving);
            }
            NavStateMsg[] states = Answer();
            int sec;
            uint nanosec;
            Stamp(m_PlayerTime, out sec, out nanosec);
            return new EnvironmentStepBatchResponse(sec, nanosec, states);
        }

        EnvironmentResetBatchResponse HandleResetBatch(EnvironmentResetBatchRequest request)
        {
            if (request.reset)
            {
                string error;
                int[] targets = ResetTargets(request, out error);
                if (targets == null)
                {
                    Debug.LogError("ray-lab: " + Namespace + "/reset rejected: " + error);
                }
                else
                {
                    IReadOnlyDictionary<string, double>[] rows =
                        ParameterRows(request.parameter_names, request.parameter_values, targets.Length);
                    bool seeded = request.seeds != null && request.seeds.Length > 0;
                    for (int k = 0; k < targets.Length; k++)
                    {
                        if (seeded && request.seeds[k] >= 0) // per agent: its episode depends on its seed only
                            UnityEngine.Random.InitState(FoldSeed(request.seeds[k]));
                        ResetOne(targets[k], rows[k]);
                    }
                    if (targets.Length == AgentCount)
                        m_PlayerTime = 0;
                    Physics.SyncTransforms();
                }
            }
            NavStateMsg[] states = Answer();
            int sec;
            uint nanosec;
            Stamp(m_PlayerTime, out sec, out nanosec);
            return new EnvironmentResetBatchResponse(sec, nanosec, states, m_Accepted);
        }

        /// <summary>The agents a batch reset names (all for an empty list), or null and the error when an index
        /// is out of range or repeated, or the seeds are neither one per agent nor none.</summary>
        int[] ResetTargets(EnvironmentResetBatchRequest request, out string error)
        {
            int n = AgentCount;
            int[] targets = request.agents != null && request.agents.Length > 0 ? request.agents : null;
            if (targets == null)
            {
                targets = new int[n];
                for (int agent = 0; agent < n; agent++)
                    targets[agent] = agent;
            }
            var seen = new HashSet<int>();
            foreach (int agent in targets)
            {
                if (agent < 0 || agent >= n || !seen.Add(agent))
                {
                    error = "agents must be distinct indices in 0.." + (n - 1) + ", got [" + string.Join(", ", targets) + "]";
                    return null;
                }
            }
            int seeds = request.seeds == null ? 0 : request.seeds.Length;
            if (seeds != 0 && seeds != targets.Length)
            {
                error = "expected " + targets.Length + " seeds (one per reset agent) or none, got " + seeds;
                return null;
            }
            error = null;
            return targets;
        }

        // ------------------------------------------------------------------ stepping and answers

        /// <summary>One agent step of physics: the substep hooks of the moving agents around each update.</summary>
        void Advance(bool[] moving)
        {
            float dt = fixedDeltaTime;
            for (int i = 0; i < fixedUpdatesPerStep; i++)
            {
                for (int agent = 0; agent < moving.Length; agent++)
                {
                    if (!moving[agent])
                        continue;
                    m_Current = agent;
                    BeforeAgentSubstep(agent, i, dt);
                }
                Physics.Simulate(dt);
                for (int agent = 0; agent < moving.Length; agent++)
                {
                    if (!moving[agent])
                        continue;
                    m_Current = agent;
                    AfterAgentSubstep(agent, i, dt);
                }
            }
            for (int agent = 0; agent < moving.Length; agent++)
            {
                if (!moving[agent])
                    continue;
                m_SimTime[agent] += (double)dt * fixedUpdatesPerStep;
                m_StepCount[agent]++;
            }
            m_PlayerTime += (double)dt * fixedUpdatesPerStep;
        }

        void ResetOne(int agent, IReadOnlyDictionary<string, double> parameters)
        {
            m_Current = agent;
            m_Parameters[agent] = parameters;
            m_SimTime[agent] = 0;
            m_StepCount[agent] = 0;
            ApplyParameters(parameters);
            ResetAgent(agent);
        }

        /// <summary>Publishes agent 0's topics, then builds every agent's state (kept for the ended-episode rule).</summary>
        NavStateMsg[] Answer()
        {
            m_Current = 0;
            PublishTopics(m_Ros);
            var states = new NavStateMsg[AgentCount];
            for (int agent = 0; agent < states.Length; agent++)
            {
                m_Current = agent;
                states[agent] = BuildAgentState(agent);
            }
            m_Current = 0;
            m_LastStates = states;
            return states;
        }

        static bool Ended(NavStateMsg state)
        {
            return state != null && (state.collided || state.reached_target || state.truncated);
        }

        /// <summary>rows parameter dictionaries from agent-major values (one row of names.Length values each),
        /// keeping the accepted names only. A count that does not match, or a non-finite value, is logged and
        /// ignored (every row empty, or that value left out): bad input must not stop the player.</summary>
        IReadOnlyDictionary<string, double>[] ParameterRows(string[] names, double[] values, int rows)
        {
            names = names ?? new string[0];
            values = values ?? new double[0];
            var result = new IReadOnlyDictionary<string, double>[rows];
            for (int row = 0; row < rows; row++)
                result[row] = k_NoParameters;
            if (values.Length != rows * names.Length)
            {
                Debug.LogError("ray-lab: " + Namespace + "/reset: environment parameters ignored: expected " + rows +
                               " x " + names.Length + " values for [" + string.Join(", ", names) + "], got " +
                               values.Length);
                return result;
            }
            for (int row = 0; row < rows; row++)
            {
                var parameters = new Dictionary<string, double>();
                for (int i = 0; i < names.Length; i++)
                {
                    double value = values[row * names.Length + i];
                    if (Array.IndexOf(m_Accepted, names[i]) < 0)
                        continue;
                    if (double.IsNaN(value) || double.IsInfinity(value))
                        Debug.LogError("ray-lab: " + Namespace + "/reset: environment parameter " + names[i] + "=" +
                                       value + " ignored: not a finite number");
                    else
                        parameters[names[i]] = value;
                }
                result[row] = new ReadOnlyDictionary<string, double>(parameters);
            }
            return result;
        }

        static string[] SortedNames(IEnumerable<string> names)
        {
            var distinct = new List<string>(new HashSet<string>(names ?? new string[0]));
            distinct.Sort(StringComparer.Ordinal);
            return distinct.ToArray();
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

// ray-lab: example environment, the Unity twin of the Python reference simulator's navigation task
// (unity_workers/reference_sim/nav.py): a differential-drive robot drives towards a target in a
// square walled arena and sees the walls through a 2D lidar. It answers ray_lab_interfaces/NavState,
// which ray-lab's NavAdapter turns into observations and rewards.
//
// Frames. The arena frame of NavState is ROS-like: x east, y north, yaw counter-clockwise from +x.
// Unity is left-handed and y-up, so arena (x, y) is Unity (x, height, z), and arena yaw psi is a
// Unity rotation of (90 - psi in degrees) about +y.
//
// Scene set-up: a kinematic Rigidbody robot, a target Transform, walls with colliders on the
// "obstacles" layers (the robot's and the target's colliders on other layers), this component and
// RayLabConnection on one GameObject.
//
// Environment parameters, as in the reference simulator: target_distance (metres: the target spawns
// exactly this far from the robot, in a random direction that keeps it in the spawn area),
// success_radius (metres) and max_steps; a reset without them uses the Inspector values. The scene
// holds one agent and sends no camera image (NavState.camera stays empty).

using System;
using System.Collections.Generic;
using RosMessageTypes.BuiltinInterfaces;
using RosMessageTypes.RayLabInterfaces;
using RosMessageTypes.Sensor;
using RosMessageTypes.Std;
using Unity.Robotics.ROSTCPConnector;
using UnityEngine;

namespace RayLab
{
    public class NavEnvironment : EnvironmentServer
    {
        [Header("Scene")]
        [Tooltip("The robot: a kinematic Rigidbody, moved with MovePosition/MoveRotation every physics update.")]
        [SerializeField] Rigidbody robot = null;
        [SerializeField] Transform target = null;
        [Tooltip("Layers the lidar sees and the robot collides with (walls); not the robot's own layer.")]
        [SerializeField] LayerMask obstacles = ~0;

        [Header("Task (defaults match the reference simulator)")]
        [SerializeField] float arenaHalfSize = 5f;
        [SerializeField] float spawnMargin = 1f;
        [SerializeField] float minSpawnDistance = 2f;
        [SerializeField] float successRadius = 0.5f;
        [SerializeField] float collisionMargin = 0.2f;
        [SerializeField] int maxSteps = 400;
        [SerializeField] float maxLinear = 1f;
        [SerializeField] float maxYawRate = 1f;

        [Header("Lidar")]
        [SerializeField] int rays = 16;
        [SerializeField] float maxRange = 5f;
        [Tooltip("Height of the lidar above the robot's pivot, metres.")]
        [SerializeField] float lidarHeight = 0.1f;
        [Tooltip("Also publish the lidar as sensor_msgs/LaserScan on /<env>_<id>/scan before every answer.")]
        [SerializeField] bool publishScan = true;

        static readonly string[] k_Parameters = { "max_steps", "success_radius", "target_distance" };
        const int k_RobotTries = 1000;   // robot positions tried for a target_distance
        const int k_DirectionTries = 64; // target directions tried from each

        float m_X, m_Y, m_Yaw;         // robot pose, arena frame
        float m_SuccessRadius;         // this episode's values: the Inspector's unless a parameter set them
        int m_MaxSteps;
        float? m_TargetDistance;
        float m_Linear, m_YawRate;     // the current action, clipped
        float m_Height;                // robot pivot height (Unity y), kept from the scene
        bool m_Collided, m_Reached;

        string ScanTopic { get { return Namespace + "/scan"; } }

        protected override void Start()
        {
            if (robot == null || target == null)
            {
                Debug.LogError("ray-lab: NavEnvironment needs its robot and target set in the Inspector");
                enabled = false;
                Application.Quit(1);
                return;
            }
            robot.isKinematic = true;
            m_Height = robot.position.y;
            base.Start();
        }

        // ------------------------------------------------------------------ EnvironmentServer

        protected override void ApplyAction(float[] action)
        {
            if (action.Length != 2 || !IsFinite(action[0]) || !IsFinite(action[1]))
                throw new ArgumentException("nav action must be 2 finite numbers [linear, yaw_rate], got " +
                                            action.Length + " values");
            m_Linear = Mathf.Clamp(action[0], -maxLinear, maxLinear);
            m_YawRate = Mathf.Clamp(action[1], -maxYawRate, maxYawRate);
        }

        protected override void BeforeSubstep(int index, float deltaTime)
        {
            if (m_Collided || m_Reached)
                return; // a finished episode does not move any more
            m_X += m_Linear * Mathf.Cos(m_Yaw) * deltaTime;
            m_Y += m_Linear * Mathf.Sin(m_Yaw) * deltaTime;
            m_Yaw = WrapAngle(m_Yaw + m_YawRate * deltaTime);
            robot.MovePosition(ToUnity(m_X, m_Y));
            robot.MoveRotation(YawToRotation(m_Yaw));
        }

        protected override void AfterSubstep(int index, float deltaTime)
        {
            if (m_Collided || m_Reached)
                return;
            m_Collided = Physics.CheckSphere(ToUnity(m_X, m_Y), collisionMargin, obstacles,
                                             QueryTriggerInteraction.Ignore);
            m_Reached = DistanceToTarget() < m_SuccessRadius;
        }

        protected override IEnumerable<string> AcceptedParameters { get { return k_Parameters; } }

        protected override void ApplyParameters(IReadOnlyDictionary<string, double> parameters)
        {
            m_SuccessRadius = successRadius;
            m_MaxSteps = maxSteps;
            m_TargetDistance = null;
            double value;
            float diagonal = 2f * Mathf.Sqrt(2f) * (arenaHalfSize - spawnMargin);
            if (parameters.TryGetValue("success_radius", out value))
            {
                if (value > 0)
                    m_SuccessRadius = (float)value;
                else
                    Debug.LogError("ray-lab: success_radius must be > 0, got " + value + "; using " + successRadius);
            }
            if (parameters.TryGetValue("max_steps", out value))
            {
                if (value >= 1 && value <= int.MaxValue && Math.Floor(value) == value)
                    m_MaxSteps = (int)value;
                else
                    Debug.LogError("ray-lab: max_steps must be a whole number >= 1, got " + value + "; using " + maxSteps);
            }
            if (parameters.TryGetValue("target_distance", out value))
            {
                if (value > 0 && value < diagonal)
                    m_TargetDistance = (float)value;
                else
                    Debug.LogError("ray-lab: target_distance must be > 0 and below the spawn area's diagonal " +
                                   diagonal + " m, got " + value + "; ignored");
            }
        }

        protected override void ResetScene()
        {
            float lim = arenaHalfSize - spawnMargin;
            m_X = UnityEngine.Random.Range(-lim, lim);
            m_Y = UnityEngine.Random.Range(-lim, lim);
            m_Yaw = UnityEngine.Random.Range(-Mathf.PI, Mathf.PI);
            float tx = 0f, ty = 0f;
            if (!m_TargetDistance.HasValue || !PlaceTargetAt(m_TargetDistance.Value, lim, out tx, out ty))
            {
                for (int attempt = 0; attempt < 1000; attempt++)
                {
                    tx = UnityEngine.Random.Range(-lim, lim);
                    ty = UnityEngine.Random.Range(-lim, lim);
                    if (Distance(m_X, m_Y, tx, ty) >= minSpawnDistance)
                        break;
                }
            }
            m_Linear = m_YawRate = 0f;
            m_Collided = m_Reached = false;
            robot.transform.SetPositionAndRotation(ToUnity(m_X, m_Y), YawToRotation(m_Yaw));
            target.position = new Vector3(tx, target.position.y, ty);
        }

        protected override NavStateMsg BuildState()
        {
            Vector3 t = target.position;
            return new NavStateMsg(
                Lidar(), m_X, m_Y, m_Yaw, t.x, t.z, DistanceToTarget(),
                m_Collided, m_Reached, StepCount >= m_MaxSteps, StepCount, new ImageMsg());
        }

        protected override void RegisterTopics(ROSConnection ros)
        {
            if (publishScan)
                ros.RegisterPublisher<LaserScanMsg>(ScanTopic);
        }

        protected override void PublishTopics(ROSConnection ros)
        {
            if (!publishScan)
                return;
            int sec;
            uint nanosec;
            Stamp(SimTime, out sec, out nanosec);
            float increment = 2f * Mathf.PI / rays;
            var header = new HeaderMsg(new TimeMsg(sec, nanosec), "lidar");
            ros.Publish(ScanTopic, new LaserScanMsg(
                header, 0f, increment * (rays - 1), increment, 0f, FixedDeltaTime * FixedUpdatesPerStep,
                0f, maxRange, Lidar(), new float[0]));
        }

        // ------------------------------------------------------------------ helpers

        /// <summary>A target distance metres from the robot inside [-lim, lim]^2: the first of k_DirectionTries
        /// random directions that fits, else a new robot position (up to k_RobotTries); false (logged) when
        /// none fits, and the caller places the target as without the parameter.</summary>
        bool PlaceTargetAt(float distance, float lim, out float tx, out float ty)
        {
            for (int robotTry = 0; robotTry < k_RobotTries; robotTry++)
            {
                for (int direction = 0; direction < k_DirectionTries; direction++)
                {
                    float angle = UnityEngine.Random.Range(-Mathf.PI, Mathf.PI);
                    tx = m_X + distance * Mathf.Cos(angle);
                    ty = m_Y + distance * Mathf.Sin(angle);
                    if (Math.Abs(tx) <= lim && Math.Abs(ty) <= lim)
                        return true;
                }
                m_X = UnityEngine.Random.Range(-lim, lim);
                m_Y = UnityEngine.Random.Range(-lim, lim);
            }
            Debug.LogError("ray-lab: no target " + distance + " m from the robot fits in the spawn area; target_distance ignored");
            tx = ty = 0f;
            return false;
        }

        /// <summary>Distances to the obstacles along each ray, counter-clockwise from the heading,
        /// capped at maxRange (NavState.lidar_ranges).</summary>
        float[] Lidar()
        {
            var ranges = new float[rays];
            Vector3 origin = ToUnity(m_X, m_Y) + Vector3.up * lidarHeight;
            for (int i = 0; i < rays; i++)
            {
                float angle = m_Yaw + i * 2f * Mathf.PI / rays;
                var direction = new Vector3(Mathf.Cos(angle), 0f, Mathf.Sin(angle));
                RaycastHit hit;
                ranges[i] = Physics.Raycast(origin, direction, out hit, maxRange, obstacles, QueryTriggerInteraction.Ignore)
                    ? hit.distance
                    : maxRange;
            }
            return ranges;
        }

        float DistanceToTarget()
        {
            Vector3 t = target.position;
            return Distance(m_X, m_Y, t.x, t.z);
        }

        Vector3 ToUnity(float x, float y)
        {
            return new Vector3(x, m_Height, y);
        }

        static Quaternion YawToRotation(float yaw)
        {
            return Quaternion.Euler(0f, 90f - yaw * Mathf.Rad2Deg, 0f);
        }

        static float Distance(float x0, float y0, float x1, float y1)
        {
            float dx = x1 - x0, dy = y1 - y0;
            return Mathf.Sqrt(dx * dx + dy * dy);
        }

        /// <summary>An angle in [-pi, pi).</summary>
        static float WrapAngle(float angle)
        {
            return Mathf.Repeat(angle + Mathf.PI, 2f * Mathf.PI) - Mathf.PI;
        }

        static bool IsFinite(float value)
        {
            return !float.IsNaN(value) && !float.IsInfinity(value);
        }
    }
}

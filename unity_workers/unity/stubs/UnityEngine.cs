// DECLARATIONS ONLY, for compile-checking the ray-lab Unity package with Mono's mcs outside Unity
// (tests/test_unity_csharp.py). Nothing here runs: every body throws or does nothing.
//
// Mirrors the public API of UnityEngine as of Unity 2022.3 LTS (namespaces, type kinds, member
// names and signatures), limited to the members the package uses. When the package starts using
// another Unity member, declare it here with its real signature, from Unity's scripting reference.

using System;

namespace UnityEngine
{
    // ------------------------------------------------------------------ objects and components

    public class Object
    {
        public string name { get { throw null; } set { } }

        public static implicit operator bool(Object exists) { throw null; }
        public static bool operator ==(Object x, Object y) { throw null; }
        public static bool operator !=(Object x, Object y) { throw null; }
        public override bool Equals(object other) { throw null; }
        public override int GetHashCode() { throw null; }
    }

    public sealed class GameObject : Object
    {
    }

    public class Component : Object
    {
        public Transform transform { get { throw null; } }
        public GameObject gameObject { get { throw null; } }
        public T GetComponent<T>() { throw null; }
    }

    public class Behaviour : Component
    {
        public bool enabled { get { throw null; } set { } }
    }

    public class MonoBehaviour : Behaviour
    {
    }

    public class Transform : Component
    {
        public Vector3 position { get { throw null; } set { } }
        public Quaternion rotation { get { throw null; } set { } }
        public void SetPositionAndRotation(Vector3 position, Quaternion rotation) { throw null; }
    }

    public class Rigidbody : Component
    {
        public bool isKinematic { get { throw null; } set { } }
        public Vector3 position { get { throw null; } set { } }
        public Quaternion rotation { get { throw null; } set { } }
        public void MovePosition(Vector3 position) { throw null; }
        public void MoveRotation(Quaternion rot) { throw null; }
    }

    // ------------------------------------------------------------------ attributes

    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = false)]
    public sealed class SerializeField : Attribute
    {
    }

    public abstract class PropertyAttribute : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Field | AttributeTargets.Property | AttributeTargets.Class | AttributeTargets.Struct,
        Inherited = true, AllowMultiple = false)]
    public class TooltipAttribute : PropertyAttribute
    {
        public readonly string tooltip;
        public TooltipAttribute(string tooltip) { this.tooltip = tooltip; }
    }

    [AttributeUsage(AttributeTargets.Field, Inherited = true, AllowMultiple = true)]
    public class HeaderAttribute : PropertyAttribute
    {
        public readonly string header;
        public HeaderAttribute(string header) { this.header = header; }
    }

    [AttributeUsage(AttributeTargets.Class, Inherited = false)]
    public sealed class DisallowMultipleComponent : Attribute
    {
    }

    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute
    {
        public Type m_Type0;
        public RequireComponent(Type requiredComponent) { m_Type0 = requiredComponent; }
    }

    [AttributeUsage(AttributeTargets.Class)]
    public class DefaultExecutionOrder : Attribute
    {
        public DefaultExecutionOrder(int order) { }
        public int order { get { throw null; } }
    }

    // ------------------------------------------------------------------ math

    public struct Vector3
    {
        public float x;
        public float y;
        public float z;

        public Vector3(float x, float y, float z)
        {
            this.x = x;
            this.y = y;
            this.z = z;
        }

        public static Vector3 up { get { throw null; } }

        public static Vector3 operator +(Vector3 a, Vector3 b) { throw null; }
        public static Vector3 operator *(Vector3 a, float d) { throw null; }
    }

    public struct Quaternion
    {
        public static Quaternion Euler(float x, float y, float z) { throw null; }
    }

    public struct Mathf
    {
        public const float PI = (float)Math.PI;
        public const float Rad2Deg = 57.29578f;

        public static float Sin(float f) { throw null; }
        public static float Cos(float f) { throw null; }
        public static float Sqrt(float f) { throw null; }
        public static float Clamp(float value, float min, float max) { throw null; }
        public static float Repeat(float t, float length) { throw null; }
    }

    public static class Random
    {
        public static void InitState(int seed) { throw null; }
        public static float Range(float minInclusive, float maxInclusive) { throw null; }
    }

    // ------------------------------------------------------------------ physics

    public enum SimulationMode
    {
        FixedUpdate = 0,
        Update = 1,
        Script = 2,
    }

    public enum QueryTriggerInteraction
    {
        UseGlobal = 0,
        Ignore = 1,
        Collide = 2,
    }

    public struct LayerMask
    {
        public int value { get { throw null; } set { } }

        public static implicit operator int(LayerMask mask) { throw null; }
        public static implicit operator LayerMask(int intVal) { throw null; }
    }

    public struct RaycastHit
    {
        public float distance { get { throw null; } set { } }
    }

    public class Physics
    {
        public static SimulationMode simulationMode { get { throw null; } set { } }

        public static void Simulate(float step) { throw null; }
        public static void SyncTransforms() { throw null; }

        public static bool Raycast(Vector3 origin, Vector3 direction, out RaycastHit hitInfo, float maxDistance,
            int layerMask, QueryTriggerInteraction queryTriggerInteraction) { throw null; }

        public static bool CheckSphere(Vector3 position, float radius, int layerMask,
            QueryTriggerInteraction queryTriggerInteraction) { throw null; }
    }

    // ------------------------------------------------------------------ player and time

    public class Application
    {
        public static bool isBatchMode { get { throw null; } }
        public static bool runInBackground { get { throw null; } set { } }
        public static int targetFrameRate { get { throw null; } set { } }

        public static void Quit(int exitCode) { throw null; }
        public static void Quit() { throw null; }
    }

    public sealed class QualitySettings : Object
    {
        public static int vSyncCount { get { throw null; } set { } }
    }

    public class Time
    {
        public static float fixedDeltaTime { get { throw null; } set { } }
        public static float timeScale { get { throw null; } set { } }
        public static float realtimeSinceStartup { get { throw null; } }
    }

    public class Debug
    {
        public static void Log(object message) { throw null; }
        public static void LogWarning(object message) { throw null; }
        public static void LogError(object message) { throw null; }
    }
}

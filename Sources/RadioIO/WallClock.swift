#if canImport(Glibc)
import Glibc
#endif

/// The wall clock, to the millisecond, for log lines and monitor output.
public enum WallClock {
    /// UTC: 2026-12-02T16:13:20.123Z.
    public static func iso8601() -> String {
        let (t, ms) = now(local: false)
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1, 2))-\(pad(Int(t.tm_mday), 2))T"
            + "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(ms, 3))Z"
    }

    /// Local time of day: 16:13:20.123.
    public static func timeOfDay() -> String {
        let (t, ms) = now(local: true)
        return "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(ms, 3))"
    }

    /// Seconds since the Unix epoch (Prometheus timestamps).
    public static func unixSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    private static func now(local: Bool) -> (tm, Int) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = tm()
        var seconds = ts.tv_sec
        if local { localtime_r(&seconds, &t) } else { gmtime_r(&seconds, &t) }
        return (t, Int(ts.tv_nsec / 1_000_000))
    }

    private static func pad(_ v: Int, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }
}

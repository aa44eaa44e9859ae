// Beacons like the NPA report's malware: a format string that sends the victim's host name, IP address and OS
// version to the C2 (`Name:%s IP:%s OS:%s`, `hostname=%s&ip=%s&os=%s`), in ASCII or UTF-16.

rule TRIAGE_Beacon_Host_IP_OS
{
    meta:
        id = "BEACON_HOST_IP_OS"
        severity = "high"
        description = "A format string that reports host name, IP address and OS together (a C2 check-in)"
    strings:
        $host = /((host|computer|pc|machine|user)[ _-]?)?name\s?[:=]\s?%[sS]/ nocase ascii wide
        $ip = /\bip(addr|address)?\s?[:=]\s?%[sS]/ nocase ascii wide
        $os = /\bos(ver|version|name)?\s?[:=]\s?%[sS]/ nocase ascii wide
    condition:
        for any i in (1..#host) : (
            for any j in (1..#ip) : (@ip[j] > @host[i] - 160 and @ip[j] < @host[i] + 160)
            and for any k in (1..#os) : (@os[k] > @host[i] - 160 and @os[k] < @host[i] + 160)
        )
}

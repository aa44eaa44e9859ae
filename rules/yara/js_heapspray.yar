// JavaScript heap-spray idioms, as in PDF exploits (and HTML/JS droppers): NOP-sled strings, a string doubled in
// a loop to hundreds of KiB, and code hidden in long String.fromCharCode lists. Scanned in PDF JavaScript decoded
// by the PDF analyzer, in uncompressed PDF streams, and in HTML and script attachments.

rule TRIAGE_JS_HeapSpray_NopSled
{
    meta:
        id = "JS_HEAPSPRAY_NOPSLED"
        severity = "high"
        description = "A heap-spray NOP sled written as %u escapes (%u0c0c%u0c0c and the like)"
    strings:
        $u0c = "%u0c0c%u0c0c" nocase
        $u0a = "%u0a0a%u0a0a" nocase
        $u0d = "%u0d0d%u0d0d" nocase
        $u0b = "%u0b0b%u0b0b" nocase
        $u90 = "%u9090%u9090" nocase
        $x0c = "\\x0c\\x0c\\x0c\\x0c" nocase
        $uu0c = "\\u0c0c\\u0c0c" nocase
    condition:
        any of them
}

rule TRIAGE_JS_HeapSpray_Loop
{
    meta:
        id = "JS_HEAPSPRAY_LOOP"
        severity = "high"
        description = "A string grown in a loop to a large size, with unescaped or fromCharCode-built code: a heap spray"
    strings:
        $grow = /while\s*\(\s*[A-Za-z_$][A-Za-z0-9_$.]{0,40}\.length\s*<=?\s*(0x[0-9A-Fa-f]{5,8}|[0-9]{6,9})\s*\)\s*\{?\s*[A-Za-z_$][A-Za-z0-9_$.]{0,40}\s*(\+=|=\s*[A-Za-z_$][A-Za-z0-9_$.]{0,40}\s*\+)/
        $fill = /for\s*\([^;)]{0,40};[^;)]{0,40}<=?\s*(0x[0-9A-Fa-f]{3,8}|[0-9]{3,9})\s*;[^)]{0,40}\)\s*\{?\s*[A-Za-z_$][A-Za-z0-9_$]{0,40}\[[^\]]{1,40}\]\s*=\s*[A-Za-z_$][A-Za-z0-9_$.]{0,40}\s*\+\s*[A-Za-z_$]/
        $unescape = /unescape\s*\(\s*["'](%u[0-9A-Fa-f]{4}){2}/ nocase
        $fromcc = "fromCharCode" nocase
    condition:
        ($grow or $fill) and ($unescape or $fromcc)
}

rule TRIAGE_JS_FromCharCode_Blob
{
    meta:
        id = "JS_FROMCHARCODE_BLOB"
        severity = "medium"
        description = "Code hidden as a long String.fromCharCode list (40 or more character codes)"
    strings:
        $list = /String\.fromCharCode\s*\(\s*(0x[0-9A-Fa-f]{1,4}|[0-9]{1,5})(\s*,\s*(0x[0-9A-Fa-f]{1,4}|[0-9]{1,5})){39}/
    condition:
        $list
}

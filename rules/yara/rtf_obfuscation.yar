// RTF object obfuscation. Word skips control words, ignorable groups, escapes and spaces inside \objdata hex and
// honours \bin and \objupdate, so exploit builders use them to break the signatures of scanners that expect clean
// hex. Word and other writers emit plain hex split by CR LF only. A control word after a backslash is text (an RTF
// document about RTF writes \\objupdate), hence the [^\\] before each.

rule TRIAGE_RTF_Objdata_Junk
{
    meta:
        id = "RTF_OBJDATA_OBFUSCATED"
        severity = "high"
        description = "RTF \\objdata hex interrupted by control words, {\\*} groups, \\' escapes or blanks that Word ignores"
    strings:
        $junk = /[^\\]\\objdata[\x00-\x20]*[0-9A-Fa-f]{2}[0-9A-Fa-f\r\n]{0,1024}(\{\\\*?[^}]{0,64}\}|\\[A-Za-z]{1,32}-?[0-9]{0,10} ?|\\'[0-9A-Fa-f]{2})[\x00-\x20]*[0-9A-Fa-f]{2}/
        $blank = /[^\\]\\objdata[\x00-\x20]*[0-9A-Fa-f]{2}[0-9A-Fa-f\r\n]{0,1024}[\x00\t\x0b\x0c ]+[0-9A-Fa-f]{2}/
    condition:
        uint32(0) == 0x74725C7B and any of them   // {\rt
}

rule TRIAGE_RTF_Bin_Trick
{
    meta:
        id = "RTF_BIN_TRICK"
        severity = "high"
        description = "RTF \\bin raw data in an object, or a \\bin length padded with zeros or absurdly long"
    strings:
        $bin_in_obj = /[^\\]\\objdata[^}]{0,512}\\bin[0-9-]/
        $bin_pad = /[^\\]\\bin-?0{2,}[0-9]/
        $bin_long = /[^\\]\\bin-?[0-9]{9,}/
    condition:
        uint32(0) == 0x74725C7B and any of them
}

rule TRIAGE_RTF_Objupdate
{
    meta:
        id = "RTF_OBJUPDATE"
        severity = "medium"
        description = "RTF object with \\objupdate: the object is loaded and updated when the document opens (CVE-2017-0199, CVE-2017-11882 droppers)"
    strings:
        $objupdate = /[^\\]\\objupdate/
        $object = /[^\\]\\object/
        $objdata = /[^\\]\\objdata/
    condition:
        uint32(0) == 0x74725C7B and $objupdate and ($object or $objdata)
}

rule TRIAGE_RTF_Malformed_Header
{
    meta:
        id = "RTF_MALFORMED_HEADER"
        severity = "medium"
        description = "An RTF file with an embedded object whose header is not {\\rtf (Word accepts {\\rt alone; scanners may not)"
    strings:
        $object = /[^\\]\\object/
        $objdata = /[^\\]\\objdata/
    condition:
        uint32(0) == 0x74725C7B and uint8(4) != 0x66 and any of them
}

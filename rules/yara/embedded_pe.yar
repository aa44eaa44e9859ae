// Windows executables hidden inside other files: documents, images, OLE streams, blobs.
// A PE at offset 0 is ATTACHMENT_EXECUTABLE's business; archives we unpack are skipped because their members
// are scanned (and judged) one by one.

rule TRIAGE_PE_Stub_In_NonPE
{
    meta:
        id = "EMBEDDED_PE"
        severity = "high"
        description = "The MS-DOS stub of a Windows executable inside a file that is not one"
    strings:
        $dos = "This program cannot be run in DOS mode" ascii
        $w32 = "This program must be run under Win32" ascii
    condition:
        uint16(0) != 0x5A4D                                        // MZ: a PE itself
        and uint32(0) != 0x04034B50                                // PK\3\4: zip members are scanned themselves
        and uint32(0) != 0x21726152                                // Rar!
        and uint32(0) != 0xAFBC7A37                                // 7z
        and uint32(0) != 0x4643534D                                // MSCF: cabinet
        and (filesize < 0x8006 or (uint32(0x8001) != 0x30304443   // CD001: ISO 9660
                                   and uint32(0x8001) != 0x30414542)) // BEA01: UDF
        and (filesize < 0x106 or uint32(0x101) != 0x61747375)      // ustar: tar
        and any of them
}

rule TRIAGE_PE_Inside_PE
{
    meta:
        id = "EMBEDDED_PE_IN_PE"
        severity = "medium"
        description = "A second Windows executable (MZ header and DOS stub) carried inside a PE: a dropper or an installer"
    strings:
        $mz_stub = { 4D 5A [30-200] 54 68 69 73 20 70 72 6F 67 72 61 6D 20 (63 61 6E 6E 6F 74 | 6D 75 73 74) }
    condition:
        uint16(0) == 0x5A4D and for any i in (1..#mz_stub) : (@mz_stub[i] > 0)
}

rule TRIAGE_PE_Stub_XOR
{
    meta:
        id = "EMBEDDED_PE_XOR"
        severity = "critical"
        description = "The MS-DOS stub of a Windows executable encoded with a single-byte XOR key: a hidden payload"
    strings:
        $dos = "This program cannot be run in DOS mode" xor(0x01-0xff)
        $w32 = "This program must be run under Win32" xor(0x01-0xff)
    condition:
        any of them
}

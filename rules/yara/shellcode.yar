// x86/x64 shellcode idioms: finding its own address (GetPC), walking the PEB to find loaded modules, and resolving
// APIs by ROR-13 hash. Compilers emit GetPC and PEB access in ordinary programs, so those two rules skip PE files
// (the PE analyzer judges executables); API-hash constants are rare enough to look for everywhere.

rule TRIAGE_Shellcode_GetPC
{
    meta:
        id = "SHELLCODE_GETPC"
        severity = "high"
        description = "Shellcode finding its own address (call $+5 / pop, fnstenv GetPC) in a file that is not an executable"
    strings:
        $call_pop = { E8 00 00 00 00 (58 | 59 | 5A | 5B | 5D | 5E | 5F) }           // call $+5 ; pop reg
        $fnstenv = { (D9 EE | D9 E8 | D9 EB | D9 D0 | DB E1 | DA C? | DB C?) [0-12] D9 74 24 F4 (58 | 59 | 5A | 5B | 5D | 5E | 5F) }  // fpu op ; fnstenv [esp-0Ch] ; pop reg
    condition:
        uint16(0) != 0x5A4D and any of them
}

rule TRIAGE_Shellcode_PEB_Access
{
    meta:
        id = "SHELLCODE_PEB_ACCESS"
        severity = "high"
        description = "Shellcode reading the Process Environment Block (fs:[0x30] / gs:[0x60]) in a file that is not an executable"
    strings:
        $fs30_eax = { 64 A1 30 00 00 00 }                                                 // mov eax, fs:[30h]
        $fs30_reg = { 64 8B (05 | 0D | 15 | 1D | 25 | 2D | 35 | 3D) 30 00 00 00 }          // mov reg, fs:[30h]
        $fs30_nul = { (31 | 33) (C0 | C9 | D2 | DB | F6 | FF) [0-4] 64 8B (40 | 41 | 42 | 43 | 46 | 47 | 48 | 49 | 4A | 4B | 4E | 4F | 50 | 51 | 52 | 53 | 56 | 57 | 58 | 59 | 5A | 5B | 5E | 5F | 70 | 71 | 72 | 73 | 76 | 77 | 78 | 79 | 7A | 7B | 7E | 7F) 30 }  // xor r,r ; mov r, fs:[r+30h]
        $gs60 = { 65 (48 | 4C) 8B (04 | 0C | 14 | 1C | 24 | 2C | 34 | 3C) 25 60 00 00 00 }   // mov reg, gs:[60h]
    condition:
        uint16(0) != 0x5A4D and any of them
}

rule TRIAGE_Shellcode_API_Hashing
{
    meta:
        id = "SHELLCODE_API_HASH"
        severity = "high"
        description = "ROR-13 API hashing as in Metasploit/Cobalt Strike stagers: the hash loop or several well-known API hashes"
    strings:
        $ror13_edi = { C1 CF 0D 01 C7 }                                        // ror edi,13 ; add edi,eax
        $ror13_edi2 = { C1 CF 0D 03 F8 }                                       // the same, other encoding
        $ror13_edx = { C1 CA 0D 01 C2 }                                        // ror edx,13 ; add edx,eax
        $ror13_x64 = { 41 C1 C9 0D 41 01 C1 }                                  // ror r9d,13 ; add r9d,eax
        $h_loadlibrarya = { 4C 77 26 07 }
        $h_getprocaddress = { 49 F7 02 78 }
        $h_virtualalloc = { 58 A4 53 E5 }
        $h_winexec = { 31 8B 6F 87 }
        $h_exitprocess = { F0 B5 A2 56 }
        $h_createprocessa = { 79 CC 3F 86 }
        $h_wsastartup = { 29 80 6B 00 }
        $h_wsasocketa = { EA 0F DF E0 }
        $h_connect = { 99 A5 74 61 }
        $h_internetopena = { 3A 56 79 A7 }
        $h_internetconnecta = { 57 89 9F C6 }
        $h_httpopenrequesta = { EB 55 2E 3B }
    condition:
        2 of ($h_*) or (any of ($ror13_*) and any of ($h_*))
}

rule TRIAGE_Shellcode_Stager_Prologue
{
    meta:
        id = "SHELLCODE_STAGER"
        severity = "high"
        description = "The opening bytes of Metasploit/Cobalt Strike stager shellcode (cld; call), raw or as a text byte array, also inside base64 (PowerShell -EncodedCommand)"
    strings:
        $bin_x86 = { FC E8 (82 | 89 | 8F) 00 00 00 60 89 E5 }                  // cld ; call ; pushad ; mov ebp,esp
        $bin_x64 = { FC 48 83 E4 F0 E8 (C0 | C8 | CC) 00 00 00 }                // cld ; and rsp,-10h ; call
        $txt_x86 = /0x[fF][cC], ?0x[eE]8, ?0x8[29fF], ?0x00, ?0x00, ?0x00/ ascii wide
        $txt_x64 = /0x[fF][cC], ?0x48, ?0x83, ?0x[eE]4, ?0x[fF]0, ?0x[eE]8/ ascii wide
        $esc_x86 = /\\x[fF][cC]\\x[eE]8\\x8[29fF]\\x00\\x00\\x00/ ascii wide
        $esc_x64 = /\\x[fF][cC]\\x48\\x83\\x[eE]4\\x[fF]0\\x[eE]8/ ascii wide
        $b64_x86 = "0xfc,0xe8,0x8" base64 base64wide
        $b64w_x86 = "0\x00x\x00f\x00c\x00,\x000\x00x\x00e\x008\x00,\x000\x00x\x008\x00" base64  // UTF-16 text in base64: PowerShell -EncodedCommand
        $b64_x64 = "0xfc,0x48,0x83,0xe4,0xf0,0xe8" base64 base64wide
        $b64w_x64 = "0\x00x\x00f\x00c\x00,\x000\x00x\x004\x008\x00,\x000\x00x\x008\x003\x00,\x000\x00x\x00e\x004\x00,\x000\x00x\x00f\x000\x00,\x000\x00x\x00e\x008\x00" base64
    condition:
        any of them
}

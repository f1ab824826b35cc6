/*
 * The first instructions of Kestrel: multiboot headers and the 32 -> 64-bit trampoline.
 *
 * Both multiboot1 (QEMU -kernel, with the a.out kludge so a 64-bit ELF is accepted)
 * and multiboot2 (GRUB) enter _start32 in 32-bit protected mode with paging off,
 * EAX = the loader's magic and EBX = the physical address of its boot information.
 *
 * The trampoline builds boot page tables that map the first 4 GiB three times:
 *   identity (PML4[0]), so the next instruction after enabling paging is mapped;
 *   the direct map at 0xffff800000000000 (PML4[256]), where Rust reads boot data;
 *   the kernel image at 0xffffffff80000000 (PML4[511], PDPT[510..511]).
 * Rust replaces these tables with precise ones (kernel::mm::paging) once it runs.
 */
.set KERNEL_VMA, 0xffffffff80000000
.set MB2_MAGIC, 0xe85250d6
.set MB1_MAGIC, 0x1badb002
/* page-align modules (0), memory map (1), a.out kludge address fields (16) */
.set MB1_FLAGS, 0x00010003
.set COM1, 0x3f8

.section .multiboot_header, "a"
.balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0                                   /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (MB2_MAGIC + (mb2_header_end - mb2_header))
    .balign 8                                 /* end tag */
    .short 0
    .short 0
    .long 8
mb2_header_end:

.balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long 0x100000000 - (MB1_MAGIC + MB1_FLAGS)
    .long mb1_header - KERNEL_VMA             /* header_addr */
    .long __load_start_phys                   /* load_addr */
    .long __load_end_phys                     /* load_end_addr */
    .long __bss_end_phys                      /* bss_end_addr */
    .long _start32 - KERNEL_VMA               /* entry_addr */

.section .text.boot, "ax"
.code32
.global _start32
.global boot_pml4
_start32:
    cli
    cld
    mov dword ptr [boot_magic - KERNEL_VMA], eax
    mov dword ptr [boot_info_phys - KERNEL_VMA], ebx
    lea esp, [boot_stack_top - KERNEL_VMA]

    /* Long mode (CPUID 0x80000001 EDX bit 29) is required. */
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb no_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, 1 << 29
    jz no_long_mode
    mov dword ptr [boot_ext_edx - KERNEL_VMA], edx

    /* Four page directories of 2 MiB pages: 2048 entries map 0..4 GiB. */
    lea edi, [boot_pd - KERNEL_VMA]
    mov eax, 0x83                             /* present | writable | 2 MiB page */
    xor ecx, ecx
1:  mov dword ptr [edi + ecx * 8], eax
    mov dword ptr [edi + ecx * 8 + 4], 0
    add eax, 0x200000
    inc ecx
    cmp ecx, 2048
    jne 1b

    /* PDPT for the low half: entries 0..3 -> the four page directories. */
    lea edi, [boot_pdpt_low - KERNEL_VMA]
    lea eax, [boot_pd - KERNEL_VMA + 3]
    mov dword ptr [edi + 0], eax
    add eax, 4096
    mov dword ptr [edi + 8], eax
    add eax, 4096
    mov dword ptr [edi + 16], eax
    add eax, 4096
    mov dword ptr [edi + 24], eax

    /* PDPT for the kernel image: entries 510, 511 -> the first two directories. */
    lea edi, [boot_pdpt_high - KERNEL_VMA]
    lea eax, [boot_pd - KERNEL_VMA + 3]
    mov dword ptr [edi + 510 * 8], eax
    add eax, 4096
    mov dword ptr [edi + 511 * 8], eax

    lea edi, [boot_pml4 - KERNEL_VMA]
    lea eax, [boot_pdpt_low - KERNEL_VMA + 3]
    mov dword ptr [edi + 0], eax              /* identity */
    mov dword ptr [edi + 256 * 8], eax        /* direct map */
    lea eax, [boot_pdpt_high - KERNEL_VMA + 3]
    mov dword ptr [edi + 511 * 8], eax        /* kernel image */

    /* CR4.PAE | CR4.PGE, CR3, EFER.LME (+ NXE if the CPU has NX), CR0.PG | WP. */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 7)
    mov cr4, eax
    lea eax, [boot_pml4 - KERNEL_VMA]
    mov cr3, eax
    mov ecx, 0xc0000080
    rdmsr
    or eax, 1 << 8
    test dword ptr [boot_ext_edx - KERNEL_VMA], 1 << 20
    jz 2f
    or eax, 1 << 11
2:  wrmsr
    mov eax, cr0
    or eax, (1 << 31) | (1 << 16) | 1
    mov cr0, eax

    lgdt [boot_gdt_ptr - KERNEL_VMA]
    push 0x08
    lea eax, [long_mode_entry - KERNEL_VMA]
    push eax
    retf

/* Print a message on COM1, then leave QEMU through isa-debug-exit (failure). */
no_long_mode:
    lea esi, [no_long_mode_msg - KERNEL_VMA]
3:  mov al, byte ptr [esi]
    test al, al
    jz 4f
    mov dx, COM1
    out dx, al
    inc esi
    jmp 3b
4:  mov dx, 0xf4
    mov eax, 0x11
    out dx, eax
5:  hlt
    jmp 5b

.code64
long_mode_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rax, offset higher_half_entry
    jmp rax

higher_half_entry:
    lea rsp, [rip + boot_stack_top]
    xor ebp, ebp
    mov edi, dword ptr [rip + boot_magic]
    mov esi, dword ptr [rip + boot_info_phys]
    call kernel_entry
6:  cli
    hlt
    jmp 6b

.section .rodata
.balign 8
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff                  /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff                  /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KERNEL_VMA
no_long_mode_msg:
    .asciz "Kestrel: this CPU has no 64-bit long mode; cannot boot.\r\n"

.section .data
.balign 4
boot_magic:     .long 0
boot_info_phys: .long 0
boot_ext_edx:   .long 0

.section .bss
.balign 4096
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096 * 4
.balign 16
boot_stack:     .skip 64 * 1024
boot_stack_top:

/* The benchmark initramfs's /init: as its first system call it writes BENCHINIT
 * to its standard output (the console the kernel gave it), the moment xtask
 * takes as boot_to_init (QEMU started to /init running); then it becomes the
 * initramfs's usual /init, the shell script xtask moved to /etc/kestrel/init.sh. */
#include <unistd.h>

int main(int argc, char **argv)
{
    static const char msg[] = "BENCHINIT\n";
    char *script[] = {"/etc/kestrel/init.sh", NULL};

    /* Nothing to do if there is no console: xtask then reports no boot_to_init. */
    if (write(1, msg, sizeof msg - 1) < 0) {
    }
    if (argc > 0) {
        argv[0] = script[0];
        execv(script[0], argv);
    } else {
        execv(script[0], script);
    }
    return 127;
}

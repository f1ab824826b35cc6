/* mapwrite FILE TEXT: writes TEXT into FILE (made that long) through a
 * MAP_SHARED mapping only, then unmaps and closes it without msync or fsync.
 * The ext2 check runs it, unmounts, mounts again and reads FILE: the stores must
 * have reached the disk through the kernel's own writeback. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mapwrite FILE TEXT\n");
        return 2;
    }
    size_t n = strlen(argv[2]);
    int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)n) != 0) {
        perror("mapwrite: open");
        return 1;
    }
    char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("mapwrite: mmap");
        return 1;
    }
    memcpy(m, argv[2], n);
    munmap(m, n);
    close(fd);
    return 0;
}

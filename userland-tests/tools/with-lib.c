/*
 * with-lib: a shared library for xtask's `--with` checks. It is installed as
 * lib/libkt-with.so.1.0 behind a lib/libkt-with.so.1 symlink (its soname), the way
 * distributions ship libraries, so a `--with` program needing it must bring the
 * link and the file it leads to.
 */
const char *kt_with_lib(void);

const char *kt_with_lib(void)
{
    return "libkt-with";
}

/* nop - the program fork_exec_wait execs: a static binary that exits at once. */
int main(void)
{
    return 0;
}

"""cffi builder for the compiled raw-syscall backend (out-of-line API mode).

setup.py names this file in ``cffi_modules``, so ``pip install .`` compiles it. The module is
top level (``_sockspec_raw``) so that it is found in site-packages even when ``harness`` itself
is imported from a source checkout.
"""
from cffi import FFI

CDEF = """
long sockspec_raw(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long sockspec_compat(long nr, long a0, long a1, long a2, long a3, long a4, long a5, int *err);
int sockspec_has_compat(void);
void sockspec_batch(long n, const long *calls, long *rets);
"""

SOURCE = r"""
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>

/* The kernel's own answer: the result, or -errno, taken from the register it comes back in
   (x86_64), or from errno right after libc's syscall() elsewhere. */
long sockspec_raw(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    long ret = syscall(nr, a0, a1, a2, a3, a4, a5);
    return ret == -1 ? -errno : ret;
#endif
}

/* n native syscalls in one trip from Python: calls[7 * i] is the number of the i-th, the six
   words after it its arguments; rets[i] its answer as sockspec_raw() gives it. In order, and
   nothing between them: the checker's state probe (harness/kernel.py: Kernel.observe). */
void sockspec_batch(long n, const long *calls, long *rets)
{
    for (long i = 0; i < n; i++) {
        const long *c = calls + 7 * i;
        rets[i] = sockspec_raw(c[0], c[1], c[2], c[3], c[4], c[5], c[6]);
    }
}

#if defined(__x86_64__)
int sockspec_has_compat(void) { return 1; }

/* An i386 syscall from 64-bit code: eax=nr, ebx, ecx, edx, esi, edi, ebp = a0..a5.
   rbp may be the frame pointer, so a5 travels in r12 and is swapped in only around the trap;
   nothing is pushed, so the red zone below rsp is left alone. The kernel returns a 32-bit
   value in eax; cdqe sign-extends it. Pointer arguments must lie below 4 GiB. */
long sockspec_compat(long nr, long a0, long a1, long a2, long a3, long a4, long a5, int *err)
{
    long ret = nr;
    register long r12 __asm__("r12") = a5;
    __asm__ volatile(
        "xchg %%r12, %%rbp\n\t"
        "int $0x80\n\t"
        "xchg %%r12, %%rbp\n\t"
        "cdqe\n\t"
        : "+a"(ret), "+r"(r12)
        : "b"(a0), "c"(a1), "d"(a2), "S"(a3), "D"(a4)
        : "memory", "cc", "r8", "r9", "r10", "r11");
    if (ret < 0 && ret > -4096) { *err = (int)-ret; return -1; }
    *err = 0;
    return ret;
}
#else
int sockspec_has_compat(void) { return 0; }
long sockspec_compat(long nr, long a0, long a1, long a2, long a3, long a4, long a5, int *err)
{
    (void)nr; (void)a0; (void)a1; (void)a2; (void)a3; (void)a4; (void)a5;
    *err = ENOSYS;
    return -1;
}
#endif
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("_sockspec_raw", SOURCE)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

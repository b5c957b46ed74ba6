/* epipe.c - keeps nng 1.5.2's listeners accepting after a peer leaves
 * during connection set-up.
 *
 * nng 1.5.2 maps EPIPE from sendmsg to NNG_ECLOSED. When that happens while
 * a listener is exchanging the 8-byte SP headers with a new peer (the peer
 * connected and left before the server's header went out: one connect and
 * close on ipc:// is enough, and on tls+tcp:// a client that resets during
 * the handshake), the transport hands NNG_ECLOSED to the socket's accept,
 * which reads it as "the listener was closed" and never accepts again. The
 * socket still answers the clients it has; every new one connects at the
 * transport level and then waits for ever. This is nng issue 1518, fixed in
 * nng 1.6.0 by turning that NNG_ECLOSED into NNG_ECONNSHUT; Debian 12
 * ships 1.5.2 without the fix.
 *
 * syncmgrd defines sendmsg, so that libnng's calls to it come here first
 * (the executable's definition is found before libc's), and reports a
 * peer that has gone as ECONNRESET instead of EPIPE: the same end of the
 * same connection, which nng maps to NNG_ECONNRESET, and after which its
 * listener accepts again at once. Nothing else in syncmgrd calls sendmsg.
 * This file is linked into the syncmgrd executable only, never into a
 * library, so no program that embeds libsyncmgr is affected. */
#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>

typedef ssize_t (*sendmsg_fn)(int, const struct msghdr *, int);

__attribute__((visibility("default"))) ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
    static sendmsg_fn next;
    sendmsg_fn f = __atomic_load_n(&next, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        /* The next definition: libc's, or a sanitizer's wrapper of it. */
        f = (sendmsg_fn)dlsym(RTLD_NEXT, "sendmsg");
        if (f == NULL) {
            errno = ENOSYS;
            return -1;
        }
        __atomic_store_n(&next, f, __ATOMIC_RELEASE);
    }
    ssize_t n = f(fd, msg, flags);
    if (n < 0 && errno == EPIPE)
        errno = ECONNRESET;
    return n;
}

/* test_abrupt_peers.c - peers that leave while a connection is being set up
 * never stop syncmgrd from accepting new clients (server/epipe.c).
 *
 * Over ipc:// and tcp://, raw sockets connect to the group's syncmgrd and
 * leave at once, in the ways a killed or hostile client leaves: a close
 * with nothing sent, a close after half of the 8-byte SP header, a close
 * after all of it, and over tcp:// a reset (SO_LINGER 0) instead of a close.
 * After each batch a new client must connect and work within its deadlines,
 * with exact values, and the group's long-lived client must still work.
 *
 * Under nng 1.5.2 one connect and close on ipc:// was enough to stop the
 * listener for good; over tls+tcp:// the same is in test_tls.c. */
#include "smt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEERS 200 /* abrupt peers per batch */
#define SMV(expr) ((const sm_value[]){expr})

/* The ways a peer leaves. */
enum leave { LEAVE_SILENT, LEAVE_HALF_HEADER, LEAVE_FULL_HEADER, LEAVE_COUNT };

/* raw_connect opens a stream socket to the group's server. */
static int
raw_connect(void)
{
    const char *url = smt_url();
    if (strncmp(url, "ipc://", 6) == 0)
        return smt_ipc_connect(url + 6);
    assert_non_null(strstr(url, "tcp://127.0.0.1:"));
    return smt_tcp_connect((unsigned)atoi(strrchr(url, ':') + 1));
}

/* leave_early connects and leaves in the given way; with reset, a tcp
 * socket leaves with RST instead of FIN. */
static void
leave_early(enum leave how, bool reset)
{
    /* A REQ peer's header: "\0SP\0", protocol 0x30 (req0), two zeros. */
    static const unsigned char header[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};
    int fd = raw_connect();
    size_t n = how == LEAVE_HALF_HEADER ? 4 : how == LEAVE_FULL_HEADER ? 8 : 0;
    if (n > 0 && send(fd, header, n, MSG_NOSIGNAL) != (ssize_t)n)
        fail_msg("send: %s", strerror(errno));
    if (reset)
        smt_close_reset(fd);
    else
        close(fd);
}

/* assert_new_client_works opens a new client with bounded deadlines and
 * checks exact results through it, then through the group's client. */
static void
assert_new_client_works(const char *dict_name, int64_t *expect)
{
    sm_client_opts o = SM_CLIENT_OPTS_INIT;
    o.dial_timeout_ms = 5000;
    o.call_timeout_ms = 5000;
    sm_client *c = NULL;
    assert_sm_ok(sm_client_open(&c, smt_url(), &o));
    sm_dict *d = NULL;
    sm_value v = sm_value_nil();
    assert_sm_ok(sm_dict_open(c, dict_name, &d));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(1)), &v));
    *expect += 1;
    smt_assert_value(&v, sm_value_int(*expect));
    assert_sm_ok(sm_dict_close(d));
    sm_client_close(c);

    assert_sm_ok(sm_dict_open(smt_client(), dict_name, &d));
    assert_sm_ok(sm_dict_incr(d, "n", SMV(sm_value_int(1)), &v));
    *expect += 1;
    smt_assert_value(&v, sm_value_int(*expect));
    assert_sm_ok(sm_dict_close(d));
}

static void
test_peers_leaving_at_once_leave_the_listener_accepting(void **state)
{
    (void)state;
    const char *name = smt_name("abrupt");
    int64_t n = 0;
    assert_new_client_works(name, &n);
    for (int how = 0; how < LEAVE_COUNT; how++) {
        for (int i = 0; i < PEERS; i++)
            leave_early((enum leave)how, false);
        assert_new_client_works(name, &n);
    }
    assert_int_equal(n, 2 * (LEAVE_COUNT + 1));
}

static void
test_peers_resetting_at_once_leave_the_listener_accepting(void **state)
{
    (void)state;
    if (strcmp(smt_transport(), "tcp") != 0)
        skip(); /* a reset is a tcp thing; ipc has only the close */
    const char *name = smt_name("reset");
    int64_t n = 0;
    for (int how = 0; how < LEAVE_COUNT; how++) {
        for (int i = 0; i < PEERS; i++)
            leave_early((enum leave)how, true);
        assert_new_client_works(name, &n);
    }
    assert_int_equal(n, 2 * LEAVE_COUNT);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_peers_leaving_at_once_leave_the_listener_accepting),
    cmocka_unit_test(test_peers_resetting_at_once_leave_the_listener_accepting),
};

int
main(int argc, char **argv)
{
    return SMT_MAIN("abrupt_peers", tests);
}

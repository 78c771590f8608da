/*
 * nta_responder: sofia-sip C's transaction engine answering every request
 * statefully with 200, the counterpart of `sip-responder` for
 * `cargo xtask bench nta`.
 *
 *   nta_responder PORT|URL
 *
 * Creates an su_root and an nta agent bound to URL (a bare PORT means
 * sip:127.0.0.1:PORT, which serves UDP and TCP), and a default leg
 * (NTATAG_NO_DIALOG(1)) whose callback returns 200 for every request, so
 * that nta itself answers statefully: it creates the server transaction,
 * sends the 200 with a To tag, absorbs retransmissions and keeps the
 * completed transaction for timer J (32 s over UDP). Its UDP socket's
 * receive and send buffers are 2 MiB (TPTAG_UDP_RMEM, TPTAG_UDP_WMEM),
 * the size sofia-tport uses by default, so that both engines of the bench
 * see the same socket. Prints
 * "listening on sip:127.0.0.1:PORT" once the agent is bound, then runs
 * su_root_run() until a signal (SIGTERM, SIGKILL) ends it. Exit status 2
 * on usage or bind errors.
 *
 * Built by xtask with: cc -O2 nta_responder.c $(pkg-config --cflags --libs sofia-sip-ua)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sofia-sip/su.h>
#include <sofia-sip/su_wait.h>
#include <sofia-sip/su_tag.h>
#include <sofia-sip/url.h>
#include <sofia-sip/nta.h>
#include <sofia-sip/nta_tag.h>
#include <sofia-sip/tport_tag.h>
#include <sofia-sip/sip.h>

/* sofia-tport's default UDP socket buffer size (Config::DEFAULT_UDP_BUFFER). */
#define UDP_BUFFER (2 * 1024 * 1024)

/* The default leg: every request gets a 200 that nta sends statefully. */
static int answer(nta_leg_magic_t *magic, nta_leg_t *leg,
                  nta_incoming_t *irq, sip_t const *sip)
{
  (void)magic;
  (void)leg;
  (void)irq;
  (void)sip;
  return 200;
}

int main(int argc, char *argv[])
{
  char url[256];
  char const *name = url;
  su_root_t *root;
  nta_agent_t *agent;
  nta_leg_t *leg;
  char const *arg;

  if (argc != 2) {
    fprintf(stderr, "usage: nta_responder PORT|URL\n");
    return 2;
  }
  arg = argv[1];
  if (strchr(arg, ':') == NULL)
    snprintf(url, sizeof url, "sip:127.0.0.1:%s", arg);
  else
    snprintf(url, sizeof url, "%s", arg);

  if (su_init() != 0) {
    fprintf(stderr, "nta_responder: su_init() failed\n");
    return 2;
  }
  root = su_root_create(NULL);
  if (root == NULL) {
    fprintf(stderr, "nta_responder: su_root_create() failed\n");
    return 2;
  }
  agent = nta_agent_create(root, URL_STRING_MAKE(name), NULL, NULL,
                           TPTAG_UDP_RMEM(UDP_BUFFER),
                           TPTAG_UDP_WMEM(UDP_BUFFER),
                           TAG_END());
  if (agent == NULL) {
    fprintf(stderr, "nta_responder: cannot bind %s\n", url);
    return 2;
  }
  leg = nta_leg_tcreate(agent, answer, NULL, NTATAG_NO_DIALOG(1), TAG_END());
  if (leg == NULL) {
    fprintf(stderr, "nta_responder: nta_leg_tcreate() failed\n");
    return 2;
  }

  printf("listening on %s\n", url);
  fflush(stdout);

  su_root_run(root); /* until a signal ends the process */

  nta_leg_destroy(leg);
  nta_agent_destroy(agent);
  su_root_destroy(root);
  su_deinit();
  return 0;
}

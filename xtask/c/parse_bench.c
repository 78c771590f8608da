/*
 * parse_bench: parse throughput of sofia-sip's C message parser, the
 * counterpart of `sip-parse --bench N FILE` for `cargo xtask bench parse`.
 *
 *   parse_bench FILE N
 *
 * Reads one SIP message from FILE, parses it N times with
 * msg_make(sip_default_mclass(), 0, buf, len) (which copies the text into a
 * fresh msg_t and extracts every header), destroying each message with
 * msg_destroy(), and prints "<msgs_per_sec> msgs/s" on the last line of
 * standard output. Before timing, it checks that the message really parses:
 * no parse error, a request line, Via, From, To, Call-ID and CSeq, and the
 * payload that Content-Length announces. It exits with 1 (and a message on
 * standard error) when it does not.
 *
 * Built by xtask with: cc -O2 parse_bench.c $(pkg-config --cflags --libs sofia-sip-ua)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sofia-sip/msg.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_header.h>
#include <sofia-sip/sip_protos.h>

static void die(char const *what)
{
  fprintf(stderr, "parse_bench: %s\n", what);
  exit(1);
}

static double now_seconds(void)
{
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    die("clock_gettime(CLOCK_MONOTONIC) failed");
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_file(char const *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, n = 0;

  if (f == NULL) {
    fprintf(stderr, "parse_bench: cannot open %s: %s\n", path, strerror(errno));
    exit(1);
  }
  for (;;) {
    size_t got;
    if (n == cap) {
      cap = cap ? 2 * cap : 4096;
      buf = realloc(buf, cap);
      if (buf == NULL)
        die("out of memory");
    }
    got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  if (ferror(f)) {
    fprintf(stderr, "parse_bench: cannot read %s\n", path);
    exit(1);
  }
  fclose(f);
  *len = n;
  return buf;
}

/* Fails loudly unless msg_make really parsed the message. */
static void verify(msg_t *msg, char const *path)
{
  sip_t const *sip;

  if (msg == NULL)
    die("msg_make returned NULL");
  if (msg_has_error(msg))
    die("msg_make: the message has parse errors (MSG_FLG_ERROR)");
  sip = sip_object(msg);
  if (sip == NULL)
    die("msg_make: no sip_t object");
  if (sip->sip_error != NULL)
    die("msg_make: headers failed to parse (sip_error is set)");
  if (sip->sip_request == NULL)
    die("msg_make: no request line (sip_request is NULL)");
  if (sip->sip_via == NULL || sip->sip_from == NULL || sip->sip_to == NULL ||
      sip->sip_call_id == NULL || sip->sip_cseq == NULL)
    die("msg_make: Via, From, To, Call-ID or CSeq missing");
  if (sip->sip_content_length != NULL &&
      sip->sip_content_length->l_length > 0 &&
      (sip->sip_payload == NULL ||
       sip->sip_payload->pl_len != sip->sip_content_length->l_length))
    die("msg_make: payload does not match Content-Length");
  fprintf(stderr, "parse_bench: %s parsed: %s %s, Call-ID %s, %lu bytes of payload\n",
          path, sip->sip_request->rq_method_name,
          sip->sip_request->rq_url->url_host ? sip->sip_request->rq_url->url_host : "",
          sip->sip_call_id->i_id,
          sip->sip_payload ? (unsigned long)sip->sip_payload->pl_len : 0UL);
}

int main(int argc, char *argv[])
{
  msg_mclass_t const *mclass;
  char *end = NULL;
  char *buf;
  size_t len;
  unsigned long long n, i;
  double start, elapsed;
  msg_t *msg;

  if (argc != 3) {
    fprintf(stderr, "usage: parse_bench FILE N\n");
    return 2;
  }
  errno = 0;
  n = strtoull(argv[2], &end, 10);
  if (errno != 0 || end == argv[2] || *end != '\0' || n == 0) {
    fprintf(stderr, "parse_bench: N must be a positive integer, not %s\n", argv[2]);
    return 2;
  }
  buf = read_file(argv[1], &len);
  if (len == 0)
    die("empty message file");

  mclass = sip_default_mclass();
  msg = msg_make(mclass, 0, buf, (ssize_t)len);
  verify(msg, argv[1]);
  msg_destroy(msg);

  start = now_seconds();
  for (i = 0; i < n; i++) {
    msg = msg_make(mclass, 0, buf, (ssize_t)len);
    if (msg == NULL || msg_has_error(msg))
      die("msg_make failed during the timed loop");
    msg_destroy(msg);
  }
  elapsed = now_seconds() - start;
  if (elapsed <= 0)
    elapsed = 1e-9;

  fprintf(stderr, "parse_bench: parsed %llu messages in %.6f s\n", n, elapsed);
  printf("%llu msgs/s\n", (unsigned long long)((double)n / elapsed));
  free(buf);
  return 0;
}

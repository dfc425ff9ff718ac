/*
 * loadgen — a small librdkafka load generator for comparing Kafka-compatible brokers.
 *
 * Modes (all bounded in time; every mode prints one machine-readable line starting
 * with "RESULT " made of key=value pairs, plus human-readable notes on stderr):
 *
 *   metadata --start-ns NS [--timeout-ms T]
 *       Raw-socket Metadata v1 request, retried every millisecond until a well-formed
 *       answer with at least one broker arrives. Prints ms elapsed since NS
 *       (CLOCK_REALTIME nanoseconds, e.g. from `date +%s%N` taken just before exec).
 *   create --topic T [--partitions 1] [--replication-factor 1] [--min-isr N]
 *       CreateTopics through librdkafka's admin API (min.insync.replicas set when given).
 *   produce --topic T --count N --size S [--acks 1|all]
 *       Flat-out producer; records/s, MB/s and delivery latency (send → delivery
 *       report) p50/p99/p99.9.
 *   rate --topic T --rate R --duration SEC --size S [--acks 1|all]
 *       Produces R rec/s for SEC seconds (linger.ms=1, round-robin over --partitions);
 *       delivery latency (send → delivery report) p50/p99/p99.9 at that load.
 *   consume --topic T --count N
 *       Reads N records from offset 0 of partition 0 (partition-level consumer API:
 *       an explicit assignment, no group, no coordinator).
 *   e2e --topic T --rate R --size S --duration SEC
 *       Produces R rec/s for SEC seconds (acks=1, linger.ms=1) while a consumer on
 *       another thread long-polls partition 0; latency = receive time − the
 *       CLOCK_MONOTONIC stamp embedded in the first 8 bytes of the payload.
 *   reqs --topic T --count M [--size S]
 *       One record per Produce request (acks=1, linger.ms=0), waiting for each
 *       delivery before sending the next.
 *
 * Consumers use fetch.wait.max.ms = --fetch-wait-ms (default 500) and fetch.min.bytes 1.
 * Common: --bootstrap HOST:PORT (default 127.0.0.1:9092), --deadline-s D (default 300):
 * a mode that has not finished by then reports what it has and exits non-zero.
 *
 * Build: cc -O2 bench/loadgen.c -lrdkafka -lpthread -o bench/.out/loadgen
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------- options ---------- */
static const char *opt_bootstrap = "127.0.0.1:9092";
static const char *opt_topic = "bench";
static long long opt_count = 100000;
static int opt_size = 100;
static const char *opt_acks = "1";
static int opt_partitions = 1;
static int opt_replication_factor = 1;
static const char *opt_min_isr = NULL;
static int opt_members = 1;
static int opt_idempotence = 0;
static const char *opt_partition_fetch_bytes = NULL;
static double opt_rate = 10000;
static double opt_duration = 10;
static long long opt_start_ns = 0;
static int opt_timeout_ms = 30000;
static double opt_deadline_s = 300;
static int opt_verbose = 0;
static const char *opt_fetch_wait = "500";

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "loadgen: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

static int64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t real_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until_mono(int64_t t) {
  struct timespec ts = {t / 1000000000LL, t % 1000000000LL};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* ---------- latency percentiles ---------- */
static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Percentile by nearest rank, in microseconds; sorts lat in place. */
static void percentiles(int64_t *lat, long long n, double *p50, double *p99, double *p999,
                        double *max) {
  if (n <= 0) {
    *p50 = *p99 = *p999 = *max = -1;
    return;
  }
  qsort(lat, (size_t)n, sizeof(int64_t), cmp_i64);
#define PCT(q) (lat[(long long)((q) * (double)(n - 1) + 0.5)] / 1000.0)
  *p50 = PCT(0.50);
  *p99 = PCT(0.99);
  *p999 = PCT(0.999);
  *max = lat[n - 1] / 1000.0;
#undef PCT
}

/* ---------- librdkafka helpers ---------- */
static void set(rd_kafka_conf_t *conf, const char *k, const char *v) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK)
    die("config %s=%s: %s", k, v, err);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
  (void)rk;
  fprintf(stderr, "rdkafka[%d] %s: %s\n", level, fac, buf);
}

static long long g_errors = 0; /* error callback count */
static char g_first_error[512];

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
  (void)rk;
  (void)opaque;
  if (g_errors++ < 5) fprintf(stderr, "loadgen: client error %s: %s\n", rd_kafka_err2name(err), reason);
  if (!g_first_error[0]) snprintf(g_first_error, sizeof g_first_error, "%s", rd_kafka_err2name(err));
}

static rd_kafka_conf_t *base_conf(void) {
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  set(conf, "bootstrap.servers", opt_bootstrap);
  set(conf, "client.id", "skein-bench-loadgen");
  set(conf, "socket.nagle.disable", "true");
  set(conf, "broker.address.family", "v4");
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
  if (opt_verbose) set(conf, "debug", "broker,protocol,msg,fetch");
  return conf;
}

static rd_kafka_conf_t *producer_conf(const char *acks, const char *linger) {
  rd_kafka_conf_t *conf = base_conf();
  set(conf, "enable.idempotence", opt_idempotence ? "true" : "false");
  set(conf, "acks", opt_idempotence ? "all" : acks);
  set(conf, "linger.ms", linger);
  set(conf, "compression.type", "none");
  set(conf, "queue.buffering.max.messages", "1000000");
  set(conf, "queue.buffering.max.kbytes", "1048576");
  set(conf, "message.timeout.ms", "60000");
  set(conf, "request.timeout.ms", "30000");
  return conf;
}

static rd_kafka_t *new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf) {
  char err[512];
  rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) die("rd_kafka_new: %s", err);
  return rk;
}

static void fill_payload(char *buf, int size) {
  for (int i = 0; i < size; i++) buf[i] = (char)('a' + (i * 7) % 26);
}

/* ---------- metadata: time to first successful Metadata answer ---------- */
static int parse_hostport(const char *hp, struct sockaddr_in *sa) {
  char host[256];
  const char *colon = strrchr(hp, ':');
  if (!colon || colon - hp >= (long)sizeof host) return -1;
  memcpy(host, hp, (size_t)(colon - hp));
  host[colon - hp] = 0;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  sa->sin_port = htons((uint16_t)atoi(colon + 1));
  if (strcmp(host, "localhost") == 0) strcpy(host, "127.0.0.1");
  return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = recv(fd, (char *)buf + got, n - got, 0);
    if (r <= 0) return -1;
    got += (size_t)r;
  }
  return 0;
}

/* One attempt: connect, send Metadata v1 (all topics), check the answer. 0 = success. */
static int metadata_attempt(const struct sockaddr_in *sa, int *brokers_out) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval tv = {1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc = -1;
  if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) {
    /* size, api_key=3, api_version=1, correlation_id, client_id, topics=null */
    unsigned char req[64];
    const char *cid = "loadgen";
    int n = 4;
    req[n++] = 0, req[n++] = 3;           /* Metadata */
    req[n++] = 0, req[n++] = 1;           /* v1 */
    uint32_t corr = htonl(0x5eed);
    memcpy(req + n, &corr, 4), n += 4;
    req[n++] = 0, req[n++] = (unsigned char)strlen(cid);
    memcpy(req + n, cid, strlen(cid)), n += (int)strlen(cid);
    req[n++] = 0xff, req[n++] = 0xff, req[n++] = 0xff, req[n++] = 0xff; /* null array */
    uint32_t len = htonl((uint32_t)(n - 4));
    memcpy(req, &len, 4);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) == n) {
      uint32_t rlen;
      if (read_full(fd, &rlen, 4) == 0) {
        rlen = ntohl(rlen);
        if (rlen >= 8 && rlen < (1u << 24)) {
          unsigned char *resp = malloc(rlen);
          if (resp && read_full(fd, resp, rlen) == 0) {
            uint32_t c, nb;
            memcpy(&c, resp, 4);
            memcpy(&nb, resp + 4, 4);
            c = ntohl(c), nb = ntohl(nb);
            if (c == 0x5eed && (int32_t)nb >= 1 && nb < 10000) {
              *brokers_out = (int)nb;
              rc = 0;
            }
          }
          free(resp);
        }
      }
    }
  }
  close(fd);
  return rc;
}

static int mode_metadata(void) {
  struct sockaddr_in sa;
  if (parse_hostport(opt_bootstrap, &sa) != 0) die("bad --bootstrap %s (need IPv4:port)", opt_bootstrap);
  if (opt_start_ns == 0) opt_start_ns = real_ns();
  int64_t deadline = opt_start_ns + (int64_t)opt_timeout_ms * 1000000LL;
  long attempts = 0;
  int brokers = 0;
  for (;;) {
    attempts++;
    if (metadata_attempt(&sa, &brokers) == 0) {
      int64_t now = real_ns();
      printf("RESULT mode=metadata ok=1 ready_ms=%.1f attempts=%ld brokers=%d\n",
             (now - opt_start_ns) / 1e6, attempts, brokers);
      return 0;
    }
    if (real_ns() > deadline) {
      printf("RESULT mode=metadata ok=0 ready_ms=-1 attempts=%ld\n", attempts);
      return 1;
    }
    usleep(1000);
  }
}

/* ---------- create ---------- */
static int mode_create(void) {
  rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, base_conf());
  char err[512];
  rd_kafka_NewTopic_t *nt =
      rd_kafka_NewTopic_new(opt_topic, opt_partitions, opt_replication_factor, err, sizeof err);
  if (!nt) die("NewTopic: %s", err);
  if (opt_min_isr && rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", opt_min_isr))
    die("NewTopic: cannot set min.insync.replicas");
  rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
  rd_kafka_AdminOptions_set_operation_timeout(ao, opt_timeout_ms, err, sizeof err);
  rd_kafka_AdminOptions_set_request_timeout(ao, opt_timeout_ms, err, sizeof err);
  rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
  rd_kafka_CreateTopics(rk, &nt, 1, ao, q);
  rd_kafka_event_t *ev = rd_kafka_queue_poll(q, opt_timeout_ms + 5000);
  int ok = 0;
  const char *why = "timeout";
  if (ev) {
    if (rd_kafka_event_error(ev)) {
      why = rd_kafka_event_error_string(ev);
    } else {
      const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
      size_t cnt;
      const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
      if (cnt == 1) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[0]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) ok = 1;
        why = rd_kafka_err2name(e);
      }
    }
  }
  /* Wait until the topic's partition has a leader in metadata (bounded). */
  int64_t deadline = mono_ns() + (int64_t)opt_timeout_ms * 1000000LL;
  int leader_ok = 0;
  while (ok && mono_ns() < deadline) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt_topic, NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt >= 1 &&
          md->topics[0].partitions[0].leader >= 0)
        leader_ok = 1;
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (leader_ok) break;
    usleep(50000);
  }
  printf("RESULT mode=create ok=%d leader=%d topic=%s result=%s\n", ok, leader_ok, opt_topic, why);
  if (ev) rd_kafka_event_destroy(ev);
  rd_kafka_queue_destroy(q);
  rd_kafka_AdminOptions_destroy(ao);
  rd_kafka_NewTopic_destroy(nt);
  rd_kafka_destroy(rk);
  return ok && leader_ok ? 0 : 1;
}

/* ---------- produce ---------- */
typedef struct {
  int64_t *sent_ns; /* per message send time */
  int64_t *lat_ns;  /* per message delivery latency */
  long long delivered, failed, lat_n;
  rd_kafka_resp_err_t first_err;
} prod_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  prod_state *st = opaque;
  int64_t now = mono_ns();
  long long idx = (long long)(intptr_t)m->_private;
  if (m->err) {
    if (st->failed++ == 0) {
      st->first_err = m->err;
      fprintf(stderr, "loadgen: delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
    return;
  }
  st->delivered++;
  st->lat_ns[st->lat_n++] = now - st->sent_ns[idx];
}

static void print_produce_result(const char *mode, prod_state *st, long long count, int size,
                                 double secs, int complete) {
  double p50, p99, p999, mx;
  percentiles(st->lat_ns, st->lat_n, &p50, &p99, &p999, &mx);
  double rps = st->delivered / secs;
  printf("RESULT mode=%s ok=%d count=%lld delivered=%lld failed=%lld first_err=%s size=%d secs=%.3f "
         "rps=%.0f mbps=%.2f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f client_errors=%lld\n",
         mode, complete && st->failed == 0 && st->delivered == count, count, st->delivered, st->failed,
         st->failed ? rd_kafka_err2name(st->first_err) : "none", size, secs, rps,
         rps * size / 1e6, p50, p99, p999, mx, g_errors);
}

/* one_at_a_time: one record per request; paced: --rate records/s for --duration seconds. */
static int mode_produce(int one_at_a_time, int paced) {
  if (paced) opt_count = (long long)(opt_rate * opt_duration);
  prod_state st = {0};
  st.sent_ns = calloc((size_t)opt_count, sizeof(int64_t));
  st.lat_ns = calloc((size_t)opt_count, sizeof(int64_t));
  if (!st.sent_ns || !st.lat_ns) die("out of memory");
  rd_kafka_conf_t *conf =
      producer_conf(one_at_a_time ? "1" : opt_acks, one_at_a_time ? "0" : paced ? "1" : "5");
  if (one_at_a_time) set(conf, "batch.num.messages", "1");
  rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_conf_set_opaque(conf, &st);
  rd_kafka_t *rk = new_client(RD_KAFKA_PRODUCER, conf);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt_topic, NULL);
  char *payload = malloc((size_t)opt_size);
  fill_payload(payload, opt_size);

  /* Warm up the connection and metadata so the timed part starts connected. */
  const struct rd_kafka_metadata *md;
  if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_metadata_destroy(md);

  int64_t t0 = mono_ns();
  int64_t deadline = t0 + (int64_t)(opt_deadline_s * 1e9);
  int complete = 1;
  int64_t interval = paced ? (int64_t)(1e9 / opt_rate) : 0;
  for (long long i = 0; i < opt_count; i++) {
    if (paced) {
      int64_t target = t0 + i * interval;
      if (mono_ns() < target) sleep_until_mono(target);
    }
    if (mono_ns() > deadline) {
      complete = 0;
      fprintf(stderr, "loadgen: deadline reached after %lld sends\n", i);
      break;
    }
    st.sent_ns[i] = mono_ns();
    while (rd_kafka_produce(rkt, (int32_t)(i % opt_partitions), RD_KAFKA_MSG_F_COPY, payload, (size_t)opt_size, NULL, 0,
                            (void *)(intptr_t)i) == -1) {
      rd_kafka_resp_err_t e = rd_kafka_last_error();
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) die("produce: %s", rd_kafka_err2str(e));
      rd_kafka_poll(rk, 1);
      st.sent_ns[i] = mono_ns(); /* latency counts from when the client accepted it */
    }
    if (one_at_a_time) {
      long long want = i + 1;
      while (st.delivered + st.failed < want && mono_ns() < deadline) rd_kafka_poll(rk, 100);
    } else {
      rd_kafka_poll(rk, 0);
    }
  }
  while (st.delivered + st.failed < opt_count && mono_ns() < deadline && rd_kafka_outq_len(rk) > 0)
    rd_kafka_poll(rk, 100);
  if (st.delivered + st.failed < opt_count) complete = 0;
  double secs = (mono_ns() - t0) / 1e9;
  print_produce_result(one_at_a_time ? "reqs" : paced ? "rate" : "produce", &st, opt_count, opt_size,
                       secs, complete);
  rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return complete && st.failed == 0 ? 0 : 1;
}

/* ---------- consume ---------- */
/* librdkafka's high-level consumer refuses assign() without group.id ("Unknown group"),
 * and a group.id would make it talk to a group coordinator, which Skein does not have
 * yet. So consumers use the partition-level (legacy) API: consume_start at an explicit
 * offset and consume_batch — a plain assignment, no group, no commits. */
static rd_kafka_t *new_consumer(const char *fetch_wait_ms) {
  rd_kafka_conf_t *conf = base_conf();
  set(conf, "enable.partition.eof", "false");
  set(conf, "fetch.wait.max.ms", fetch_wait_ms);
  set(conf, "fetch.min.bytes", "1");
  set(conf, "check.crcs", "false");
  if (opt_partition_fetch_bytes) set(conf, "max.partition.fetch.bytes", opt_partition_fetch_bytes);
  return new_client(RD_KAFKA_CONSUMER, conf);
}

static rd_kafka_topic_t *start_at(rd_kafka_t *rk, int64_t offset) {
  rd_kafka_topic_conf_t *tc = rd_kafka_topic_conf_new();
  char err[256];
  rd_kafka_topic_conf_set(tc, "auto.offset.reset", "earliest", err, sizeof err);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, opt_topic, tc);
  if (rd_kafka_consume_start(rkt, 0, offset) == -1)
    die("consume_start: %s", rd_kafka_err2str(rd_kafka_last_error()));
  return rkt;
}

#define BATCH 10000
static int mode_consume(void) {
  rd_kafka_t *rk = new_consumer(opt_fetch_wait);
  rd_kafka_topic_t *rkt = start_at(rk, 0);
  /* More partitions: all of them into one queue (an assign() of every partition). */
  rd_kafka_queue_t *queue = NULL;
  if (opt_partitions > 1) {
    rd_kafka_consume_stop(rkt, 0);
    queue = rd_kafka_queue_new(rk);
    for (int p = 0; p < opt_partitions; p++)
      if (rd_kafka_consume_start_queue(rkt, p, 0, queue) == -1)
        die("consume_start_queue: %s", rd_kafka_err2str(rd_kafka_last_error()));
  }
  static rd_kafka_message_t *msgs[BATCH];
  long long got = 0, bytes = 0, errs = 0;
  int64_t t0 = 0, tstart = mono_ns();
  int64_t deadline = tstart + (int64_t)(opt_deadline_s * 1e9);
  int64_t expect = 0, out_of_order = 0;
  while (got < opt_count && mono_ns() < deadline) {
    ssize_t n = queue ? rd_kafka_consume_batch_queue(queue, 100, msgs, BATCH)
                      : rd_kafka_consume_batch(rkt, 0, 100, msgs, BATCH);
    if (n < 0) die("consume_batch: %s", rd_kafka_err2str(rd_kafka_last_error()));
    for (ssize_t i = 0; i < n; i++) {
      rd_kafka_message_t *m = msgs[i];
      if (m->err) {
        if (errs++ < 5) fprintf(stderr, "loadgen: consume error: %s\n", rd_kafka_message_errstr(m));
      } else {
        if (got == 0) t0 = mono_ns(); /* first record: excludes connect/ListOffsets */
        if (!queue && m->offset != expect) out_of_order++;
        expect = m->offset + 1;
        got++;
        bytes += (long long)m->len;
      }
      rd_kafka_message_destroy(m);
    }
  }
  int64_t t1 = mono_ns();
  double secs = got ? (t1 - t0) / 1e9 : 0;
  double secs_total = (t1 - tstart) / 1e9;
  printf("RESULT mode=consume ok=%d count=%lld got=%lld bytes=%lld secs=%.3f secs_incl_start=%.3f "
         "rps=%.0f mbps=%.2f gaps=%lld consume_errors=%lld client_errors=%lld\n",
         got == opt_count, opt_count, got, bytes, secs, secs_total, secs > 0 ? got / secs : 0,
         secs > 0 ? bytes / secs / 1e6 : 0, (long long)out_of_order, errs, g_errors);
  if (queue) {
    for (int p = 0; p < opt_partitions; p++) rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(queue);
  } else {
    rd_kafka_consume_stop(rkt, 0);
  }
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return got == opt_count ? 0 : 1;
}

/* ---------- end-to-end ---------- */
typedef struct {
  rd_kafka_t *rk;
  rd_kafka_topic_t *rkt;
  volatile int stop;
  long long expected; /* set by producer when done; -1 while producing */
  int64_t *lat_ns;
  long long cap, n, errs, bad;
  int64_t last_rx_ns;
} e2e_state;

static void *e2e_consumer(void *arg) {
  e2e_state *st = arg;
  /* One message per call: rd_kafka_consume() returns as soon as a message is there,
   * while consume_batch() may wait out its timeout to fill the batch. */
  while (!st->stop) {
    rd_kafka_message_t *m = rd_kafka_consume(st->rkt, 0, 50);
    if (!m) continue;
    int64_t now = mono_ns();
    if (m->err) {
      if (st->errs++ < 5) fprintf(stderr, "loadgen: e2e consume error: %s\n", rd_kafka_message_errstr(m));
    } else if (m->len >= 8) {
      int64_t sent;
      memcpy(&sent, m->payload, 8);
      if (st->n < st->cap) st->lat_ns[st->n++] = now - sent;
      st->last_rx_ns = now;
    } else {
      st->bad++;
    }
    rd_kafka_message_destroy(m);
  }
  return NULL;
}

static long long g_e2e_delivered, g_e2e_failed;
static void e2e_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  (void)opaque;
  if (m->err) {
    if (g_e2e_failed++ == 0) fprintf(stderr, "loadgen: e2e delivery failed: %s\n", rd_kafka_err2str(m->err));
  } else {
    g_e2e_delivered++;
  }
}

static int mode_e2e(void) {
  if (opt_size < 8) opt_size = 8;
  long long total = (long long)(opt_rate * opt_duration);
  e2e_state st = {0};
  st.cap = total;
  st.lat_ns = calloc((size_t)total + 1, sizeof(int64_t));

  rd_kafka_conf_t *pconf = producer_conf("1", "1");
  rd_kafka_conf_set_dr_msg_cb(pconf, e2e_dr_cb);
  rd_kafka_t *prk = new_client(RD_KAFKA_PRODUCER, pconf);
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(prk, opt_topic, NULL);

  /* Start the consumer exactly at the current end of the partition. */
  int64_t lo = 0, hi = 0;
  rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(prk, opt_topic, 0, &lo, &hi, 10000);
  if (e) die("query_watermark_offsets: %s", rd_kafka_err2str(e));
  st.rk = new_consumer(opt_fetch_wait);
  st.rkt = start_at(st.rk, hi);
  pthread_t th;
  pthread_create(&th, NULL, e2e_consumer, &st);
  /* Give the consumer a moment to connect and issue its first (long-poll) fetch. */
  usleep(1000000);

  char *payload = malloc((size_t)opt_size);
  fill_payload(payload, opt_size);
  int64_t t0 = mono_ns();
  int64_t interval = (int64_t)(1e9 / opt_rate);
  long long sent = 0;
  for (long long i = 0; i < total; i++) {
    int64_t target = t0 + i * interval;
    if (mono_ns() < target) sleep_until_mono(target);
    int64_t now = mono_ns();
    memcpy(payload, &now, 8);
    if (rd_kafka_produce(rkt, 0, RD_KAFKA_MSG_F_COPY, payload, (size_t)opt_size, NULL, 0, NULL) == -1) {
      rd_kafka_poll(prk, 1);
      continue; /* counted as not sent */
    }
    sent++;
    rd_kafka_poll(prk, 0);
  }
  double send_secs = (mono_ns() - t0) / 1e9;
  rd_kafka_flush(prk, 10000);
  /* Wait (bounded) for the consumer to catch up. */
  int64_t wait_deadline = mono_ns() + 10000000000LL;
  while (st.n < g_e2e_delivered && mono_ns() < wait_deadline) usleep(10000);
  st.stop = 1;
  pthread_join(th, NULL);
  double p50, p99, p999, mx;
  long long n = st.n;
  percentiles(st.lat_ns, n, &p50, &p99, &p999, &mx);
  printf("RESULT mode=e2e ok=%d rate=%.0f size=%d secs=%.3f sent=%lld delivered=%lld failed=%lld "
         "received=%lld achieved_rps=%.0f p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f "
         "consume_errors=%lld client_errors=%lld\n",
         n == total && g_e2e_failed == 0, opt_rate, opt_size, send_secs, sent, g_e2e_delivered,
         g_e2e_failed, n, sent / send_secs, p50, p99, p999, mx, st.errs, g_errors);
  rd_kafka_consume_stop(st.rkt, 0);
  rd_kafka_topic_destroy(st.rkt);
  rd_kafka_destroy(st.rk);
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(prk);
  return n == total ? 0 : 1;
}

/* ---------- group: subscribe() consumers in one group ---------- */
/* --members consumers (one thread and client each) subscribe to the topic in a new group
 * with the high-level consumer's defaults (auto commit on) and read until together they
 * have --count records. first_ms = subscribe to first record; rps counts from there. */
static long long g_group_got = 0;
static int64_t g_group_first_ns = 0;
static char g_group_id[64];

static void *run_group_member(void *arg) {
  (void)arg;
  rd_kafka_conf_t *conf = base_conf();
  set(conf, "group.id", g_group_id);
  set(conf, "auto.offset.reset", "earliest");
  set(conf, "enable.partition.eof", "false");
  set(conf, "fetch.wait.max.ms", opt_fetch_wait);
  set(conf, "check.crcs", "false");
  rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, conf);
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, opt_topic, RD_KAFKA_PARTITION_UA);
  if (rd_kafka_subscribe(rk, topics) != 0) die("subscribe failed");
  rd_kafka_topic_partition_list_destroy(topics);
  /* Batches from the consumer queue, as the assign() scenario reads: the same client work per
   * record in both, so the comparison is about what the broker serves. */
  rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(rk);
  rd_kafka_message_t **msgs = calloc(BATCH, sizeof *msgs);
  if (!queue || !msgs) die("consumer queue");
  int64_t deadline = mono_ns() + (int64_t)(opt_deadline_s * 1e9);
  while (__atomic_load_n(&g_group_got, __ATOMIC_RELAXED) < opt_count && mono_ns() < deadline) {
    ssize_t n = rd_kafka_consume_batch_queue(queue, 100, msgs, BATCH);
    long long ok = 0;
    for (ssize_t i = 0; i < n; i++) {
      if (!msgs[i]->err) ok++;
      rd_kafka_message_destroy(msgs[i]);
    }
    if (ok > 0) {
      int64_t zero = 0, now = mono_ns();
      __atomic_compare_exchange_n(&g_group_first_ns, &zero, now, 0, __ATOMIC_RELAXED,
                                  __ATOMIC_RELAXED);
      __atomic_add_fetch(&g_group_got, ok, __ATOMIC_RELAXED);
    }
  }
  free(msgs);
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  return NULL;
}

static int mode_group(void) {
  snprintf(g_group_id, sizeof g_group_id, "bench-%lld-%d", (long long)real_ns(), getpid());
  pthread_t threads[64];
  int members = opt_members < 1 ? 1 : opt_members > 64 ? 64 : opt_members;
  int64_t t0 = mono_ns();
  for (int i = 0; i < members; i++) pthread_create(&threads[i], NULL, run_group_member, NULL);
  int64_t done = 0;
  while (!done) {
    if (__atomic_load_n(&g_group_got, __ATOMIC_RELAXED) >= opt_count) done = mono_ns();
    else if (mono_ns() - t0 > (int64_t)(opt_deadline_s * 1e9)) done = mono_ns();
    else usleep(1000);
  }
  for (int i = 0; i < members; i++) pthread_join(threads[i], NULL);
  long long got = g_group_got;
  double first_ms = g_group_first_ns ? (g_group_first_ns - t0) / 1e6 : -1;
  double secs = g_group_first_ns ? (done - g_group_first_ns) / 1e9 : 0;
  printf("RESULT mode=group ok=%d members=%d count=%lld got=%lld first_ms=%.0f secs=%.3f rps=%.0f "
         "client_errors=%lld\n",
         got >= opt_count, members, opt_count, got, first_ms, secs, secs > 0 ? got / secs : 0,
         g_errors);
  return got >= opt_count ? 0 : 1;
}

/* ---------- main ---------- */
static void usage(void) {
  fprintf(stderr,
          "usage: loadgen MODE [--bootstrap H:P] [--topic T] [--count N] [--size S] [--acks 1|all]\n"
          "               [--partitions P] [--replication-factor N] [--min-isr N]\n"
          "               [--rate R] [--duration SEC] [--start-ns NS]\n"
          "               [--timeout-ms MS] [--deadline-s SEC] [--fetch-wait-ms MS] [--members N]\n"
          "               [--idempotence] [--max-partition-fetch-bytes N] [--verbose]\n"
          "modes: version metadata create produce rate consume e2e reqs group\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 2) usage();
  const char *mode = argv[1];
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
#define ARG(name) (strcmp(a, name) == 0 && i + 1 < argc)
    if (ARG("--bootstrap")) opt_bootstrap = argv[++i];
    else if (ARG("--topic")) opt_topic = argv[++i];
    else if (ARG("--count")) opt_count = atoll(argv[++i]);
    else if (ARG("--size")) opt_size = atoi(argv[++i]);
    else if (ARG("--acks")) opt_acks = argv[++i];
    else if (ARG("--partitions")) opt_partitions = atoi(argv[++i]);
    else if (ARG("--replication-factor")) opt_replication_factor = atoi(argv[++i]);
    else if (ARG("--min-isr")) opt_min_isr = argv[++i];
    else if (ARG("--rate")) opt_rate = atof(argv[++i]);
    else if (ARG("--duration")) opt_duration = atof(argv[++i]);
    else if (ARG("--start-ns")) opt_start_ns = atoll(argv[++i]);
    else if (ARG("--timeout-ms")) opt_timeout_ms = atoi(argv[++i]);
    else if (ARG("--deadline-s")) opt_deadline_s = atof(argv[++i]);
    else if (ARG("--fetch-wait-ms")) opt_fetch_wait = argv[++i];
    else if (ARG("--members")) opt_members = atoi(argv[++i]);
    else if (ARG("--max-partition-fetch-bytes")) opt_partition_fetch_bytes = argv[++i];
    else if (strcmp(a, "--idempotence") == 0) opt_idempotence = 1;
    else if (strcmp(a, "--verbose") == 0) opt_verbose = 1;
    else usage();
#undef ARG
  }
  if (opt_count <= 0 || opt_size <= 0) die("--count and --size must be positive");
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (strcmp(mode, "version") == 0) {
    printf("RESULT mode=version librdkafka=%s\n", rd_kafka_version_str());
    return 0;
  }
  if (strcmp(mode, "metadata") == 0) return mode_metadata();
  if (strcmp(mode, "create") == 0) return mode_create();
  if (strcmp(mode, "produce") == 0) return mode_produce(0, 0);
  if (strcmp(mode, "rate") == 0) return mode_produce(0, 1);
  if (strcmp(mode, "reqs") == 0) return mode_produce(1, 0);
  if (strcmp(mode, "consume") == 0) return mode_consume();
  if (strcmp(mode, "e2e") == 0) return mode_e2e();
  if (strcmp(mode, "group") == 0) return mode_group();
  usage();
  return 2;
}

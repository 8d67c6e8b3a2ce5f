/* The exclusive-access contract from C, against libdiscrec as installed
 * (built with `pkg-config --cflags --libs discrec`).
 *
 *   contract IMAGE          run every check on the image file IMAGE
 *   contract owner IMAGE    (helper) print the owner's client name
 *   contract hold IMAGE     (helper) acquire, say "held", wait to be killed
 *
 * Each check prints "PASS name" or "FAIL name: why"; the exit status is
 * the number of failures. */
#include <discrec.h>

#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *self;


/* Run `self ARGS...` and capture its first line of output. */
static int helper(char *out, size_t len, const char *mode, const char *image) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execl(self, self, mode, image, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], out, len - 1);
    out[n > 0 ? n : 0] = 0;
    char *nl = strchr(out, '\n');
    if (nl) *nl = 0;
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int owner_mode(const char *image) {
    discrec_recorder *r = NULL;
    if (discrec_recorder_open(image, &r) != DISCREC_S_OK) return 2;
    char *name = NULL;
    if (discrec_recorder_exclusive_access_owner(r, &name) != DISCREC_S_OK) return 3;
    printf("%s\n", name ? name : "(free)");
    discrec_free_string(name);
    discrec_recorder_close(r);
    return 0;
}

static int hold_mode(const char *image) {
    discrec_recorder *r = NULL;
    if (discrec_recorder_open(image, &r) != DISCREC_S_OK) return 2;
    if (discrec_recorder_acquire_exclusive_access(r, false, "Crashing App") != DISCREC_S_OK) return 3;
    printf("held\n");
    fflush(stdout);
    pause();
    return 0;
}

struct shared { discrec_recorder *r; int errors; };

struct waiting { discrec_recorder *r; int32_t hr; };

/* A failing call while the process ends (thread-locals torn down): an
 * error code, not an abort. */
static void at_exit(void) {
    int32_t hr = discrec_recorder_close((discrec_recorder *)2);
    const char *m = discrec_last_error_message();
    if (hr != DISCREC_ERROR_INVALID_HANDLE || m == NULL) _exit(99);
}

static void *waiter(void *arg) {
    struct waiting *w = arg;
    w->hr = discrec_recorder_acquire_exclusive_access_wait(w->r, false, "Waiter", -1);
    return NULL;
}

static void *hammer(void *arg) {
    struct shared *s = arg;
    for (int i = 0; i < 500; i++) {
        if (discrec_recorder_acquire_exclusive_access(s->r, false, "Threaded App") != DISCREC_S_OK) s->errors++;
        uint32_t n = 0;
        if (discrec_recorder_lock_count(s->r, &n) != DISCREC_S_OK || n == 0) s->errors++;
        if (discrec_recorder_release_exclusive_access(s->r) != DISCREC_S_OK) s->errors++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    self = argv[0];
    if (argc == 3 && strcmp(argv[1], "owner") == 0) return owner_mode(argv[2]);
    if (argc == 3 && strcmp(argv[1], "hold") == 0) return hold_mode(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGE\n", argv[0]);
        return 100;
    }
    const char *image = argv[1];
    char line[256];
    int32_t hr;

    printf("libdiscrec %s\n", discrec_version());
    atexit(at_exit);
    discrec_recorder *r = NULL;
    hr = discrec_recorder_open(image, &r);
    CHECK("open", hr == DISCREC_S_OK && r != NULL, "hr 0x%08X", (unsigned)hr);

    /* C1, C4, C5: acquire under a client name, nested, counted. */
    hr = discrec_recorder_acquire_exclusive_access(r, false, "C Burner");
    CHECK("acquire", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_acquire_exclusive_access(r, false, "C Burner");
    uint32_t count = 0;
    discrec_recorder_lock_count(r, &count);
    CHECK("nested_acquire_counts", hr == DISCREC_S_OK && count == 2, "hr 0x%08X, count %u", (unsigned)hr, count);

    /* C7: the owner, from this handle and from a second process. */
    char *name = NULL;
    hr = discrec_recorder_exclusive_access_owner(r, &name);
    CHECK("owner_here", hr == DISCREC_S_OK && name && strcmp(name, "C Burner") == 0, "owner %s", name ? name : "NULL");
    discrec_free_string(name);
    int st = helper(line, sizeof line, "owner", image);
    CHECK("owner_from_another_process", st == 0 && strcmp(line, "C Burner") == 0, "exit %d, said \"%s\"", st, line);
    char *json = NULL;
    hr = discrec_recorder_exclusive_access_owner_json(r, &json);
    CHECK("owner_json", hr == DISCREC_S_OK && json && strstr(json, "\"client_name\":\"C Burner\""), "%s", json ? json : "NULL");
    discrec_free_string(json);

    /* C1 from a second handle: refused, naming the holder. */
    discrec_recorder *other = NULL;
    discrec_recorder_open(image, &other);
    hr = discrec_recorder_acquire_exclusive_access(other, false, "Other App");
    CHECK("second_client_refused", hr == DISCREC_E_IMAPI_RECORDER_LOCKED && strstr(discrec_last_error_message(), "C Burner"),
          "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_acquire_exclusive_access_wait(other, false, "Other App", 200);
    CHECK("wait_times_out_naming_holder", hr == DISCREC_E_IMAPI_RECORDER_LOCKED, "hr 0x%08X", (unsigned)hr);

    /* Release: once per acquire; one too many is ERROR_INVALID_FUNCTION. */
    discrec_recorder_release_exclusive_access(r);
    hr = discrec_recorder_acquire_exclusive_access(other, false, "Other App");
    CHECK("still_held_at_count_1", hr == DISCREC_E_IMAPI_RECORDER_LOCKED, "hr 0x%08X", (unsigned)hr);
    discrec_recorder_release_exclusive_access(r);
    hr = discrec_recorder_release_exclusive_access(r);
    CHECK("release_too_many", hr == DISCREC_E_NOT_LOCKED, "hr 0x%08X", (unsigned)hr);
    st = helper(line, sizeof line, "owner", image);
    CHECK("free_after_release", st == 0 && strcmp(line, "(free)") == 0, "said \"%s\"", line);

    /* C4: client names. */
    hr = discrec_recorder_acquire_exclusive_access(r, false, "Bad/Name");
    CHECK("bad_client_name", hr == DISCREC_E_INVALIDARG && strstr(discrec_last_error_message(), "'/'"), "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_acquire_exclusive_access(r, false, NULL);
    CHECK("null_client_name", hr == DISCREC_E_POINTER, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_acquire_exclusive_access(r, false, "Caf\xe9");
    CHECK("non_utf8_client_name", hr == DISCREC_E_INVALIDARG, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_open(NULL, &other);
    CHECK("null_path", hr == DISCREC_E_POINTER, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_open("/nonexistent/drive", &other);
    CHECK("missing_device", hr == DISCREC_ERROR_DEV_NOT_EXIST && hr < 0, "hr 0x%08X", (unsigned)hr);

    /* C6: a holder that crashes frees the recorder. */
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, "hold", image, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        st = helper(line, sizeof line, "owner", image);
        if (strcmp(line, "Crashing App") == 0) break;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    hr = discrec_recorder_acquire_exclusive_access(other, false, "Other App");
    CHECK("crash_releases", strcmp(line, "Crashing App") == 0 && hr == DISCREC_S_OK, "saw \"%s\", hr 0x%08X", line,
          (unsigned)hr);
    discrec_recorder_release_exclusive_access(other);

    /* One handle from two threads at once: safe (serialized). */
    struct shared s = {r, 0};
    pthread_t t1, t2;
    pthread_create(&t1, NULL, hammer, &s);
    pthread_create(&t2, NULL, hammer, &s);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    discrec_recorder_lock_count(r, &count);
    CHECK("one_handle_two_threads", s.errors == 0 && count == 0, "%d errors, count %u", s.errors, count);

    /* A wait ended from another thread: cancelled, then by a close. */
    discrec_recorder *h2 = NULL, *w2 = NULL;
    discrec_recorder_open(image, &h2);
    discrec_recorder_open(image, &w2);
    discrec_recorder_acquire_exclusive_access(h2, false, "Holder");
    /* Cancels with no wait in progress never block (a socket pair filled
     * after about 280 and hung the caller; SIGALRM ends a hung run), and
     * do not end a later wait (asserted below: it waits until cancelled). */
    alarm(20);
    for (int i = 0; i < 100000; i++)
        hr = discrec_recorder_cancel_wait(w2);
    alarm(0);
    CHECK("cancel_wait_never_blocks", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    struct waiting wa = {w2, 0};
    pthread_t tw;
    pthread_create(&tw, NULL, waiter, &wa);
    usleep(200000);
    CHECK("old_cancels_do_not_end_a_wait", wa.hr == 0, "the wait ended with 0x%08X before its cancel", (unsigned)wa.hr);
    hr = discrec_recorder_cancel_wait(w2);
    pthread_join(tw, NULL);
    CHECK("cancel_wait", hr == DISCREC_S_OK && wa.hr == DISCREC_E_IMAPI_REQUEST_CANCELLED, "hr 0x%08X, wait 0x%08X",
          (unsigned)hr, (unsigned)wa.hr);
    wa.hr = 0;
    pthread_create(&tw, NULL, waiter, &wa);
    usleep(200000);
    hr = discrec_recorder_close(w2);
    pthread_join(tw, NULL);
    CHECK("close_ends_a_wait", hr == DISCREC_S_OK && wa.hr != DISCREC_S_OK, "hr 0x%08X, wait 0x%08X", (unsigned)hr,
          (unsigned)wa.hr);
    st = helper(line, sizeof line, "owner", image);
    CHECK("holder_kept_the_drive", strcmp(line, "Holder") == 0, "owner \"%s\"", line);
    discrec_recorder_close(h2);

    /* Closed, NULL and made-up handles: ERROR_INVALID_HANDLE (a failed
     * HRESULT), never a crash. */
    hr = discrec_recorder_lock_count((discrec_recorder *)1, &count);
    CHECK("made_up_handle", hr == DISCREC_ERROR_INVALID_HANDLE && hr < 0, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_close(r);
    CHECK("close", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_acquire_exclusive_access(r, false, "C Burner");
    CHECK("closed_handle", hr == DISCREC_ERROR_INVALID_HANDLE, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_close(r);
    CHECK("closed_twice", hr == DISCREC_ERROR_INVALID_HANDLE, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_lock_count(NULL, &count);
    CHECK("null_handle", hr == DISCREC_ERROR_INVALID_HANDLE, "hr 0x%08X", (unsigned)hr);
    hr = discrec_recorder_lock_count(other, NULL);
    CHECK("null_out_pointer", hr == DISCREC_E_POINTER, "hr 0x%08X", (unsigned)hr);
    discrec_recorder_close(other);

    /* Enumeration answers (no drive here is fine). */
    char **paths = NULL;
    size_t n = 99;
    hr = discrec_recorder_list(&paths, &n);
    CHECK("list", hr == DISCREC_S_OK && (n == 0 || paths[0][0] == '/'), "hr 0x%08X, %zu", (unsigned)hr, n);
    discrec_free_string_array(paths, n);

    printf("contract: %d failed\n", failures);
    return failures;
}

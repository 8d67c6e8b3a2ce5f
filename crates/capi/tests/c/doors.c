/* The calls beyond the lock and the plain write, from C, on image files
 * (virtual recorders): status, the medium, the drive list, a command run
 * while holding (with a signal passed on), adding a session, the write
 * speed, overwrite, the eraser's refusals, and the cluster lock on a
 * real etcd when one is named.
 *
 *   doors IMAGE DIRECTORY MORE_DIRECTORY [ETCD_URL]
 *
 * Prints PASS/FAIL lines; the exit status is the number of failures. */
#include <discrec.h>

#include "check.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct later {
    discrec_recorder *rec;
    int signo;
};

static void *signal_later(void *arg) {
    struct later *l = arg;
    usleep(300 * 1000);
    discrec_recorder_signal_command(l->rec, l->signo);
    return NULL;
}

static void status_and_medium(const char *image) {
    discrec_recorder *rec = NULL;
    HR("open", discrec_recorder_open(image, &rec), DISCREC_S_OK);
    char *json = NULL;
    HR("status_json", discrec_recorder_status_json(rec, &json), DISCREC_S_OK);
    CHECK("status_free", contains(json, "\"locked\":false") && !contains(json, "\"client_name\":\""), "%s", json);
    discrec_free_string(json);
    HR("acquire", discrec_recorder_acquire_exclusive_access(rec, false, "C Doors"), DISCREC_S_OK);
    json = NULL;
    HR("status_json_held", discrec_recorder_status_json(rec, &json), DISCREC_S_OK);
    CHECK("status_names_holder", contains(json, "\"locked\":true") && contains(json, "\"client_name\":\"C Doors\""),
          "%s", json);
    discrec_free_string(json);

    /* Another handle: the medium is refused while this one holds it (C10). */
    discrec_recorder *other = NULL;
    discrec_recorder_open(image, &other);
    discrec_medium m;
    memset(&m, 0xff, sizeof m);
    HR("medium_refused_while_held", discrec_recorder_medium(other, &m), DISCREC_E_IMAPI_RECORDER_LOCKED);
    HR("release", discrec_recorder_release_exclusive_access(rec), DISCREC_S_OK);
    HR("medium", discrec_recorder_medium(other, &m), DISCREC_S_OK);
    /* A blank image file: blank (0x2), writable from sector 0, no profile. */
    CHECK("medium_blank", (m.state & 0x2) && m.physical_type == 12 && m.next_writable_address == 0 && m.profile == -1 &&
                              m.sessions == 0 && m.previous_session_start == -1 && m.medium_supported && !m.erasable,
          "state 0x%x, nwa %llu, profile %d, sessions %u", m.state, (unsigned long long)m.next_writable_address,
          m.profile, m.sessions);
    json = NULL;
    HR("medium_json", discrec_recorder_medium_json(other, &json), DISCREC_S_OK);
    CHECK("medium_json_fields", contains(json, "\"state\":[\"blank\"") || contains(json, "\"blank\""), "%s", json);
    discrec_free_string(json);
    HR("medium_null", discrec_recorder_medium(other, NULL), DISCREC_E_POINTER);
    /* NULL where the answer goes: refused before anything is made (valgrind
     * sees no leak). */
    HR("status_json_null", discrec_recorder_status_json(other, NULL), DISCREC_E_POINTER);
    HR("medium_json_null", discrec_recorder_medium_json(other, NULL), DISCREC_E_POINTER);
    HR("drives_json_null", discrec_drives_json(NULL), DISCREC_E_POINTER);
    HR("path_null", discrec_recorder_path(other, NULL), DISCREC_E_POINTER);
    HR("identity_null_outputs", discrec_recorder_identity(other, NULL, NULL, NULL),
       DISCREC_E_INVALIDARG); /* an image file has no INQUIRY */
    char *path = NULL;
    HR("path", discrec_recorder_path(other, &path), DISCREC_S_OK);
    CHECK("path_is_the_node", path && path[0] == '/' && strstr(path, image + (image[0] == '/' ? 1 : 0)), "%s",
          path ? path : "(null)");
    discrec_free_string(path);

    /* An image file is no drive: the drive's questions say so. */
    int tray = 99;
    int32_t hr = discrec_recorder_tray_state(other, &tray);
    CHECK("tray_state_of_an_image", hr < 0 && tray == 99, "hr 0x%08X, tray %d", (unsigned)hr, tray);
    json = NULL;
    hr = discrec_recorder_drive_json(other, &json);
    CHECK("drive_json_of_an_image", hr < 0 && json == NULL, "hr 0x%08X", (unsigned)hr);

    json = NULL;
    HR("drives_json", discrec_drives_json(&json), DISCREC_S_OK);
    CHECK("drives_json_is_a_list", json != NULL && json[0] == '[', "%s", json ? json : "(null)");
    discrec_free_string(json);
    discrec_recorder_close(other);
    discrec_recorder_close(rec);
}

struct running {
    discrec_recorder *rec;
    int32_t hr;
    int status;
};

static void *run_sleeper(void *arg) {
    struct running *r = arg;
    /* It ignores SIGTERM: a close must end it with SIGKILL. */
    const char *sleeper[] = {"sh", "-c", "trap '' TERM; exec sleep 30", NULL};
    r->hr = discrec_recorder_run_holding(r->rec, sleeper, false, &r->status);
    return NULL;
}

/* A close from another thread stops the command run_holding runs:
 * SIGTERM, and SIGKILL two seconds later for one that ignores it. */
static void close_during_run_holding(const char *image) {
    struct running r = {NULL, -1, -1};
    discrec_recorder_open(image, &r.rec);
    discrec_recorder_acquire_exclusive_access(r.rec, false, "C Closer");
    pthread_t t;
    pthread_create(&t, NULL, run_sleeper, &r);
    usleep(300 * 1000);
    double t0 = now();
    HR("close_during_run_holding", discrec_recorder_close(r.rec), DISCREC_S_OK);
    pthread_join(t, NULL);
    CHECK("close_stops_the_command", now() - t0 >= 1.9 && now() - t0 < 6 && r.hr == DISCREC_S_OK &&
                                         r.status == 128 + SIGKILL,
          "%.1f s, hr 0x%08X, status %d", now() - t0, (unsigned)r.hr, r.status);
    discrec_recorder *again = NULL;
    discrec_recorder_open(image, &again);
    char *owner = (char *)1;
    discrec_recorder_exclusive_access_owner(again, &owner);
    CHECK("free_after_the_close", owner == NULL, "owner %s", owner ? owner : "(null)");
    discrec_recorder_close(again);
}

static void run_holding(const char *image) {
    discrec_recorder *rec = NULL;
    discrec_recorder_open(image, &rec);
    const char *exit7[] = {"sh", "-c", "exit 7", NULL};
    int status = -1;
    HR("run_holding_needs_the_hold", discrec_recorder_run_holding(rec, exit7, false, &status), DISCREC_E_NOT_LOCKED);
    discrec_recorder_acquire_exclusive_access(rec, false, "C Supervisor");
    HR("run_holding", discrec_recorder_run_holding(rec, exit7, false, &status), DISCREC_S_OK);
    CHECK("run_holding_exit_code", status == 7, "status %d", status);

    /* The command's own discrec calls see this hold: the owner it reads
     * back is this program's client name. */
    char owner_cmd[512];
    snprintf(owner_cmd, sizeof owner_cmd,
             "test \"$(cat /proc/locks | grep -c FLOCK)\" -ge 1 && test -e '%s'", image);
    const char *sees[] = {"sh", "-c", owner_cmd, NULL};
    HR("run_holding_sh", discrec_recorder_run_holding(rec, sees, false, &status), DISCREC_S_OK);
    CHECK("run_holding_lock_held_meanwhile", status == 0, "status %d", status);

    const char *sleeper[] = {"sleep", "30", NULL};
    struct later l = {rec, SIGTERM};
    pthread_t t;
    pthread_create(&t, NULL, signal_later, &l);
    double t0 = now();
    HR("run_holding_signalled", discrec_recorder_run_holding(rec, sleeper, false, &status), DISCREC_S_OK);
    pthread_join(t, NULL);
    CHECK("signal_passed_on", status == 128 + SIGTERM && now() - t0 < 10, "status %d after %.1f s", status,
          now() - t0);
    unsigned count = 0;
    discrec_recorder_lock_count(rec, &count);
    CHECK("still_held_after_the_command", count == 1, "count %u", count);
    HR("signal_not_a_signal", discrec_recorder_signal_command(rec, 1000), DISCREC_E_INVALIDARG);
    HR("signal_realtime_refused", discrec_recorder_signal_command(rec, 34), DISCREC_E_INVALIDARG);
    const char *empty[] = {NULL};
    HR("run_holding_empty_argv", discrec_recorder_run_holding(rec, empty, false, &status), DISCREC_E_INVALIDARG);
    HR("run_holding_null_argv", discrec_recorder_run_holding(rec, NULL, false, &status), DISCREC_E_POINTER);
    const char *missing[] = {"/nonexistent/program", NULL};
    int32_t hr = discrec_recorder_run_holding(rec, missing, false, &status);
    CHECK("run_holding_missing_program", hr < 0 && strstr(discrec_last_error_message(), "/nonexistent/program"),
          "hr 0x%08X", (unsigned)hr);
    discrec_recorder_release_exclusive_access(rec);
    discrec_recorder_close(rec);
}

static void append_speed_overwrite(const char *image, const char *dir, const char *more) {
    discrec_writer *w = NULL;
    HR("writer_open", discrec_writer_open(image, &w), DISCREC_S_OK);
    char *json = NULL;
    HR("no_report_yet", discrec_writer_last_report_json(w, &json), DISCREC_S_OK);
    CHECK("no_report_is_null", json == NULL, "%s", json);
    HR("speeds_json", discrec_writer_supported_write_speeds_json(w, &json), DISCREC_S_OK);
    CHECK("an_image_offers_no_speeds", json && strcmp(json, "[]") == 0, "%s", json ? json : "(null)");
    discrec_free_string(json);
    bool writing = true;
    HR("is_writing", discrec_writer_is_writing(w, &writing), DISCREC_S_OK);
    CHECK("not_writing", !writing, "writing");
    HR("set_write_speed", discrec_writer_set_write_speed(w, 3600), DISCREC_S_OK);
    int32_t hr = discrec_writer_write(w, dir, NULL, NULL);
    CHECK("speed_not_offered_is_refused", hr == DISCREC_E_INVALIDARG && strstr(discrec_last_error_message(), "speed"),
          "hr 0x%08X", (unsigned)hr);
    discrec_medium m;
    discrec_recorder *rec = NULL;
    discrec_recorder_open(image, &rec);
    discrec_recorder_medium(rec, &m);
    CHECK("refused_before_the_first_sector", (m.state & 0x2) != 0, "state 0x%x", m.state);
    HR("set_write_speed_max", discrec_writer_set_write_speed(w, 0), DISCREC_S_OK);
    HR("set_wait", discrec_writer_set_wait(w, 1000), DISCREC_S_OK);
    HR("write", discrec_writer_write(w, dir, NULL, NULL), DISCREC_S_OK);
    json = NULL;
    HR("report_json", discrec_writer_last_report_json(w, &json), DISCREC_S_OK);
    CHECK("report_of_a_first_session", contains(json, "\"start_lba\":0") && contains(json, "\"added_to\":null"), "%s",
          json);
    discrec_free_string(json);

    discrec_recorder_medium(rec, &m);
    uint64_t nwa_before = m.next_writable_address;
    CHECK("appendable_after_write", (m.state & 0x4) && nwa_before > 0, "state 0x%x, nwa %llu", m.state,
          (unsigned long long)nwa_before);
    HR("append", discrec_writer_append(w, more, NULL, NULL), DISCREC_S_OK);
    json = NULL;
    discrec_writer_last_report_json(w, &json);
    CHECK("report_of_an_added_session",
          contains(json, "\"previous_session_start\":0") && contains(json, "\"files_kept\":2"), "%s", json);
    discrec_free_string(json);
    HR("medium_after_append", discrec_recorder_medium(rec, &m), DISCREC_S_OK);
    /* An image file's file system grows in place (its descriptors at
     * sector 16 point to the new tree): still one session from sector 0,
     * ending further on. */
    CHECK("appendable_after_append", (m.state & 0x4) && m.previous_session_start == 0 && m.next_writable_address > nwa_before,
          "state 0x%x, previous %lld, nwa %llu", m.state, (long long)m.previous_session_start,
          (unsigned long long)m.next_writable_address);
    hr = discrec_writer_append(w, "/nonexistent/dir", NULL, NULL);
    CHECK("append_of_a_missing_dir", hr < 0 && strstr(discrec_last_error_message(), "/nonexistent/dir"), "hr 0x%08X",
          (unsigned)hr);

    HR("written_is_not_blank", discrec_writer_write(w, dir, NULL, NULL), DISCREC_E_IMAPI_DF2DATA_MEDIA_NOT_BLANK);
    /* An image file is a write-once disc: overwrite is for rewritable
     * discs, and says so (the guest tier overwrites a DVD+RW). */
    HR("set_force_overwrite", discrec_writer_set_force_overwrite(w, true), DISCREC_S_OK);
    hr = discrec_writer_write(w, dir, NULL, NULL);
    CHECK("overwrite_of_an_image_is_refused",
          hr == DISCREC_E_IMAPI_DF2DATA_MEDIA_NOT_BLANK && strstr(discrec_last_error_message(), "rewritable"),
          "hr 0x%08X", (unsigned)hr);
    uint64_t nwa_appended = m.next_writable_address;
    discrec_recorder_medium(rec, &m);
    CHECK("left_as_it_was", m.next_writable_address == nwa_appended, "nwa %llu", (unsigned long long)m.next_writable_address);
    discrec_recorder_close(rec);
    discrec_writer_close(w);
    HR("closed_writer_append", discrec_writer_append(w, more, NULL, NULL), DISCREC_ERROR_INVALID_HANDLE);
}

static void eraser(const char *image) {
    discrec_eraser *e = NULL;
    HR("eraser_open", discrec_eraser_open(image, &e), DISCREC_S_OK);
    HR("eraser_bad_client_name", discrec_eraser_set_client_name(e, "no/slash"),
       DISCREC_E_IMAPI_ERASE_CLIENT_NAME_IS_NOT_VALID);
    HR("eraser_client_name", discrec_eraser_set_client_name(e, "C Eraser"), DISCREC_S_OK);
    HR("eraser_full", discrec_eraser_set_full_erase(e, true), DISCREC_S_OK);
    HR("eraser_wait", discrec_eraser_set_wait(e, -1), DISCREC_S_OK);
    /* An image file is no disc: refused, and left as it was. */
    HR("erase_an_image", discrec_eraser_erase(e, NULL, NULL), DISCREC_E_IMAPI_ERASE_MEDIA_IS_NOT_ERASABLE);
    CHECK("erase_says_what_to_do", strstr(discrec_last_error_message(), "truncate") != NULL, "%s",
          discrec_last_error_message());
    HR("eraser_close", discrec_eraser_close(e), DISCREC_S_OK);
    HR("eraser_closed", discrec_eraser_erase(e, NULL, NULL), DISCREC_ERROR_INVALID_HANDLE);
    HR("eraser_null", discrec_eraser_set_full_erase(NULL, true), DISCREC_ERROR_INVALID_HANDLE);
}

static void cluster(const char *image, const char *etcd) {
    discrec_recorder *rec = NULL;
    discrec_recorder_open(image, &rec);
    HR("cluster_bad_url", discrec_recorder_set_cluster(rec, "ftp://nowhere", "k", 0), DISCREC_E_INVALIDARG);
    int64_t token = 0;
    HR("no_fencing_token", discrec_recorder_fencing_token(rec, &token), DISCREC_S_OK);
    CHECK("fencing_token_without_cluster", token == -1, "token %lld", (long long)token);
    HR("check_cluster_lock_without", discrec_recorder_check_cluster_lock(rec), DISCREC_S_OK);
    if (etcd == NULL) {
        printf("SKIP cluster lock on etcd (no etcd URL given)\n");
        discrec_recorder_close(rec);
        return;
    }
    char key[64];
    snprintf(key, sizeof key, "c-doors-%d", (int)getpid());
    HR("set_cluster", discrec_recorder_set_cluster(rec, etcd, key, 5), DISCREC_S_OK);
    HR("cluster_acquire", discrec_recorder_acquire_exclusive_access(rec, false, "C Cluster"), DISCREC_S_OK);
    HR("fencing_token", discrec_recorder_fencing_token(rec, &token), DISCREC_S_OK);
    CHECK("fencing_token_given", token > 0, "token %lld", (long long)token);
    HR("check_cluster_lock", discrec_recorder_check_cluster_lock(rec), DISCREC_S_OK);
    HR("set_cluster_while_held", discrec_recorder_set_cluster(rec, etcd, key, 5), DISCREC_E_INVALIDARG);

    /* Another "machine": another image file under the same key. */
    char other_image[4096];
    snprintf(other_image, sizeof other_image, "%s.other", image);
    FILE *f = fopen(other_image, "w");
    if (f) fclose(f);
    discrec_recorder *other = NULL;
    discrec_recorder_open(other_image, &other);
    HR("set_cluster_other", discrec_recorder_set_cluster(other, etcd, key, 5), DISCREC_S_OK);
    HR("cluster_refuses_a_second_holder", discrec_recorder_acquire_exclusive_access(other, false, "C Other"),
       DISCREC_E_IMAPI_RECORDER_LOCKED);
    CHECK("cluster_names_the_holder", strstr(discrec_last_error_message(), "C Cluster") != NULL, "%s",
          discrec_last_error_message());
    HR("cluster_release", discrec_recorder_release_exclusive_access(rec), DISCREC_S_OK);
    HR("cluster_second_holder_after", discrec_recorder_acquire_exclusive_access(other, false, "C Other"),
       DISCREC_S_OK);
    int64_t token2 = 0;
    discrec_recorder_fencing_token(other, &token2);
    CHECK("fencing_token_grows", token2 > token, "%lld then %lld", (long long)token, (long long)token2);
    discrec_recorder_release_exclusive_access(other);
    discrec_recorder_close(other);
    discrec_recorder_close(rec);
    unlink(other_image);

    discrec_recorder *dead = NULL;
    discrec_recorder_open(image, &dead);
    double t0 = now();
    int32_t hr = discrec_recorder_set_cluster(dead, "http://127.0.0.1:9", "k", 0);
    CHECK("cluster_unreachable_fails_soon", hr == DISCREC_E_FAIL && now() - t0 < 15 &&
                                                strstr(discrec_last_error_message(), "127.0.0.1:9"),
          "hr 0x%08X after %.1f s", (unsigned)hr, now() - t0);
    discrec_recorder_close(dead);
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s IMAGE DIRECTORY MORE_DIRECTORY [ETCD_URL]\n", argv[0]);
        return 100;
    }
    status_and_medium(argv[1]);
    run_holding(argv[1]);
    close_during_run_holding(argv[1]);
    append_speed_overwrite(argv[1], argv[2], argv[3]);
    eraser(argv[1]);
    cluster(argv[1], argc == 5 ? argv[4] : NULL);
    printf("doors: %d failed\n", failures);
    return failures;
}

/* A burn from C: a directory written to an image file (a virtual
 * recorder) through discrec_writer_*, with a progress callback, then a
 * write cancelled from the callback.
 *
 *   burn IMAGE DIRECTORY BIG_IMAGE BIG_SOURCE
 *
 * Prints PASS/FAIL lines; the exit status is the number of failures. */
#include <discrec.h>

#include "check.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>



struct seen {
    int updates, backwards, last_action, max_action;
    double last_percent;
    discrec_writer *cancel_me;
    discrec_writer *probe;
    int saw_writing;
};

/* Where an action comes in a write: IMAPI2's values, except that
 * verifying (7) comes between finalization (5) and completed (6). */
static int phase(int action) {
    return action == 7 ? 11 : action == 6 ? 12 : 2 * action;
}

static void on_progress(const discrec_progress *p, void *user) {
    struct seen *s = user;
    s->updates++;
    if (phase(p->action) < phase(s->last_action)) s->backwards++;
    s->last_action = p->action;
    if (p->action > s->max_action) s->max_action = p->action;
    s->last_percent = p->percent;
    bool writing = false;
    if (s->probe && discrec_writer_is_writing(s->probe, &writing) == DISCREC_S_OK && writing) s->saw_writing++;
    if (s->cancel_me) discrec_writer_cancel_write(s->cancel_me);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s IMAGE DIRECTORY BIG_IMAGE BIG_SOURCE\n", argv[0]);
        return 100;
    }
    discrec_writer *w = NULL;
    int32_t hr = discrec_writer_open(argv[1], &w);
    CHECK("writer_open", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    hr = discrec_writer_set_client_name(w, "C Burner");
    CHECK("client_name", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    hr = discrec_writer_set_client_name(w, "no/slashes");
    CHECK("bad_client_name", hr != DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    struct seen s = {0};
    s.probe = w;
    hr = discrec_writer_write(w, argv[2], on_progress, &s);
    CHECK("write_directory", hr == DISCREC_S_OK, "hr 0x%08X", (unsigned)hr);
    CHECK("progress_called", s.updates >= 1 && s.backwards == 0, "%d updates, %d backwards", s.updates, s.backwards);
    CHECK("progress_completed", s.max_action >= 6, "last action %d", s.max_action);
    CHECK("is_writing_during_the_write", s.saw_writing >= 1, "%d of %d updates", s.saw_writing, s.updates);
    struct stat st;
    CHECK("image_written", stat(argv[1], &st) == 0 && st.st_size > 0, "size %lld", (long long)st.st_size);
    hr = discrec_writer_write(w, argv[2], NULL, NULL);
    CHECK("written_disc_is_not_blank", hr == DISCREC_E_IMAPI_DF2DATA_MEDIA_NOT_BLANK, "hr 0x%08X", (unsigned)hr);
    hr = discrec_writer_cancel_write(w);
    CHECK("cancel_without_write", hr == DISCREC_E_IMAPI_DF2DATA_WRITE_NOT_IN_PROGRESS, "hr 0x%08X", (unsigned)hr);
    discrec_writer_close(w);
    hr = discrec_writer_set_verify(w, true);
    CHECK("closed_writer", hr == DISCREC_ERROR_INVALID_HANDLE, "hr 0x%08X", (unsigned)hr);

    /* Cancelled from the progress callback, on the library's thread. */
    discrec_writer *big = NULL;
    discrec_writer_open(argv[3], &big);
    struct seen c = {0};
    c.cancel_me = big;
    hr = discrec_writer_write(big, argv[4], on_progress, &c);
    CHECK("cancel_from_callback", hr == DISCREC_E_IMAPI_REQUEST_CANCELLED, "hr 0x%08X", (unsigned)hr);
    discrec_writer_close(big);

    printf("burn: %d failed\n", failures);
    return failures;
}

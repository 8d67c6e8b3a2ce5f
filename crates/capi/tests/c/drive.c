/* The C library on a real drive: the guest tier runs this against a
 * DVD-RW that discrec-vdrive serves through the kernel's sr driver.
 *
 *   drive DEV write DIRECTORY MORE_DIRECTORY   (a blank disc)
 *   drive DEV erase DIRECTORY                  (the disc "write" left)
 *
 * "write": the identity, the tray, TEST UNIT READY, the drive and medium
 * queries, the offered speeds, a write at one of them, eject and close,
 * a session added that closes the disc (after which adding is refused),
 * the tray locked and unlocked. "erase": the eraser with progress, then
 * a write to the erased disc. The guest reads the files back with the kernel's
 * isofs between the two. Prints PASS/FAIL lines; the exit status is the
 * number of failures. */
#include <discrec.h>

#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* TEST UNIT READY until the disc is ready (at most 10 s). */
static int32_t ready(discrec_recorder *rec) {
    int32_t hr = 0;
    for (int i = 0; i < 100; i++) {
        hr = discrec_recorder_check_medium(rec);
        if (hr == DISCREC_S_OK) break;
        usleep(100 * 1000);
    }
    return hr;
}

struct updates {
    int count, max_action;
    double last_fraction;
    char step[32];
};

static void on_write(const discrec_progress *p, void *user) {
    struct updates *u = user;
    u->count++;
    if (p->action > u->max_action) u->max_action = p->action;
}

static void on_erase(const discrec_erase_progress *p, void *user) {
    struct updates *u = user;
    u->count++;
    if (p->fraction >= 0) u->last_fraction = p->fraction;
    snprintf(u->step, sizeof u->step, "%s", p->step);
}

static void write_part(const char *dev, const char *dir, const char *more) {
    discrec_recorder *rec = NULL;
    HR("open", discrec_recorder_open(dev, &rec), DISCREC_S_OK);
    HR("check_medium", ready(rec), DISCREC_S_OK);
    char *vendor = NULL, *product = NULL, *revision = NULL;
    HR("identity", discrec_recorder_identity(rec, &vendor, &product, &revision), DISCREC_S_OK);
    CHECK("identity_read", vendor && product && revision && product[0], "%s / %s / %s", vendor, product, revision);
    discrec_free_string(vendor);
    discrec_free_string(product);
    discrec_free_string(revision);
    int tray = -1;
    HR("tray_state", discrec_recorder_tray_state(rec, &tray), DISCREC_S_OK);
    CHECK("tray_disc_ok", tray == 4, "tray %d", tray);

    char *json = NULL;
    HR("drive_json", discrec_recorder_drive_json(rec, &json), DISCREC_S_OK);
    CHECK("drive_json_profiles", contains(json, "\"profiles\"") && contains(json, "DVD-RW"), "%s", json);
    discrec_free_string(json);
    json = NULL;
    HR("drives_json", discrec_drives_json(&json), DISCREC_S_OK);
    CHECK("drives_json_lists_the_drive", contains(json, dev), "%s", json);
    discrec_free_string(json);

    discrec_medium m;
    HR("medium", discrec_recorder_medium(rec, &m), DISCREC_S_OK);
    CHECK("medium_blank_dvd_rw", m.physical_type == 10 && (m.state & 0x2) && m.profile >= 0x13 &&
                                     m.profile <= 0x14 && m.erasable && m.medium_supported && m.free_sectors > 0,
          "type %u, state 0x%x, profile 0x%x, free %llu", m.physical_type, m.state, m.profile,
          (unsigned long long)m.free_sectors);

    discrec_writer *w = NULL;
    HR("writer_open", discrec_writer_open(dev, &w), DISCREC_S_OK);
    json = NULL;
    HR("speeds_json", discrec_writer_supported_write_speeds_json(w, &json), DISCREC_S_OK);
    const char *sps = json ? strstr(json, "\"sectors_per_second\":") : NULL;
    unsigned speed = sps ? (unsigned)strtoul(sps + strlen("\"sectors_per_second\":"), NULL, 10) : 0;
    CHECK("drive_offers_speeds", speed > 0, "%s", json ? json : "(null)");
    discrec_free_string(json);
    HR("set_write_speed_offered", discrec_writer_set_write_speed(w, speed), DISCREC_S_OK);
    HR("set_client_name", discrec_writer_set_client_name(w, "C Drive"), DISCREC_S_OK);
    HR("set_force_media_to_be_closed_off", discrec_writer_set_force_media_to_be_closed(w, false), DISCREC_S_OK);
    struct updates u = {0};
    HR("write", discrec_writer_write(w, dir, on_write, &u), DISCREC_S_OK);
    CHECK("write_progress", u.count > 0 && u.max_action >= 6, "%d updates, last action %d", u.count, u.max_action);
    json = NULL;
    discrec_writer_last_report_json(w, &json);
    CHECK("write_verified", contains(json, "\"verified\":true"), "%s", json);
    discrec_free_string(json);

    /* The tray out and in: the kernel forgets the disc, discrec reads it
     * anew. */
    HR("eject", discrec_recorder_eject(rec, "C Drive"), DISCREC_S_OK);
    discrec_recorder_tray_state(rec, &tray);
    CHECK("tray_open_after_eject", tray == 2, "tray %d", tray);
    HR("close_tray", discrec_recorder_close_tray(rec, "C Drive"), DISCREC_S_OK);
    HR("ready_after_close", ready(rec), DISCREC_S_OK);

    /* The added session closes the disc. */
    HR("set_force_media_to_be_closed", discrec_writer_set_force_media_to_be_closed(w, true), DISCREC_S_OK);
    HR("append", discrec_writer_append(w, more, on_write, &u), DISCREC_S_OK);
    json = NULL;
    discrec_writer_last_report_json(w, &json);
    CHECK("append_kept_the_old_files", contains(json, "\"files_kept\":") && !contains(json, "\"files_kept\":0"),
          "%s", json);
    discrec_free_string(json);
    HR("medium_after_append", discrec_recorder_medium(rec, &m), DISCREC_S_OK);
    CHECK("two_sessions_closed", m.sessions == 2 && !(m.state & 0x4) && m.free_sectors == 0 &&
                                     m.previous_session_start > 0,
          "sessions %u, state 0x%x, free %llu, previous %lld", m.sessions, m.state,
          (unsigned long long)m.free_sectors, (long long)m.previous_session_start);
    HR("append_to_a_closed_disc", discrec_writer_append(w, more, NULL, NULL),
       DISCREC_IMAPI_E_NO_COMPATIBLE_MULTISESSION_TYPE);

    HR("lock_tray", discrec_recorder_set_tray_locked(rec, "C Drive", true), DISCREC_S_OK);
    HR("unlock_tray", discrec_recorder_set_tray_locked(rec, "C Drive", false), DISCREC_S_OK);
    discrec_writer_close(w);
    discrec_recorder_close(rec);
}

static void erase_part(const char *dev, const char *dir) {
    discrec_eraser *e = NULL;
    HR("eraser_open", discrec_eraser_open(dev, &e), DISCREC_S_OK);
    HR("eraser_client_name", discrec_eraser_set_client_name(e, "C Eraser"), DISCREC_S_OK);
    HR("eraser_quick", discrec_eraser_set_full_erase(e, false), DISCREC_S_OK);
    HR("eraser_wait", discrec_eraser_set_wait(e, 5000), DISCREC_S_OK);
    struct updates u = {0};
    u.last_fraction = -1;
    HR("erase", discrec_eraser_erase(e, on_erase, &u), DISCREC_S_OK);
    CHECK("erase_progress", u.count > 0 && u.last_fraction == 1.0 && u.step[0], "%d updates, fraction %.2f, step %s",
          u.count, u.last_fraction, u.step);
    discrec_eraser_close(e);

    discrec_recorder *rec = NULL;
    discrec_recorder_open(dev, &rec);
    discrec_medium m;
    HR("medium_after_erase", discrec_recorder_medium(rec, &m), DISCREC_S_OK);
    CHECK("blank_after_erase", (m.state & 0x2) && m.sessions == 0, "state 0x%x, sessions %u", m.state, m.sessions);

    /* A quickly erased DVD-RW is written in restricted overwrite: the
     * writer formats it first. */
    discrec_writer *w = NULL;
    discrec_writer_open(dev, &w);
    HR("write_after_erase", discrec_writer_write(w, dir, NULL, NULL), DISCREC_S_OK);
    HR("medium_after_write", discrec_recorder_medium(rec, &m), DISCREC_S_OK);
    CHECK("written_after_erase", (m.state & 0x1000) && !(m.state & 0x2), "state 0x%x", m.state);
    discrec_writer_close(w);
    discrec_recorder_close(rec);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[2], "write") == 0) {
        write_part(argv[1], argv[3], argv[4]);
    } else if (argc == 4 && strcmp(argv[2], "erase") == 0) {
        erase_part(argv[1], argv[3]);
    } else {
        fprintf(stderr, "usage: %s DEV write DIRECTORY MORE_DIRECTORY | DEV erase DIRECTORY\n", argv[0]);
        return 100;
    }
    printf("drive: %d failed\n", failures);
    return failures;
}

/*
 * kit_replay_file.c - the kit's side of tests/integration/test_kit_replay.py:
 * replay an execution exported from a real host (`tarry export ID`) against
 * a plugin build, as a CI job would, and print what the kit found as one
 * JSON object: {"state", "fits", "position", "journal_has", "code_issued",
 * "next_command", "error"}.
 *
 *   kit_replay_file EXPORT.json PLUGIN.so
 *
 * Exit 0 when the kit answered (whatever the verdict), 1 when it could not.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "tarry_test.h"

static void add_text(cJSON *o, const char *key, const char *text)
{
    if (text)
        cJSON_AddStringToObject(o, key, text);
    else
        cJSON_AddNullToObject(o, key);
}

int main(int argc, char **argv)
{
    tarry_test *t;
    tarry_test_state state;
    const tarry_test_verdict *v;
    cJSON *out;
    char *text;

    if (argc != 3) {
        fprintf(stderr, "usage: kit_replay_file EXPORT.json PLUGIN.so\n");
        return 1;
    }
    if (!(t = tarry_test_new()) || tarry_test_load(t, argv[2]) != TARRY_OK)
        return 1;
    state = tarry_test_replay_file(t, argv[1], NULL);
    if (state == TARRY_TEST_ERROR) {
        fprintf(stderr, "kit_replay_file: %s\n", tarry_test_error(t));
        tarry_test_free(t);
        return 1;
    }
    v = tarry_test_verdict_of(t);
    out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "state", tarry_test_state_name(state));
    cJSON_AddBoolToObject(out, "fits", v->fits);
    cJSON_AddNumberToObject(out, "position", (double)v->position);
    add_text(out, "journal_has", v->journal_has);
    add_text(out, "code_issued", v->code_issued);
    add_text(out, "next_command", v->next_command);
    add_text(out, "error", tarry_test_error(t));
    text = cJSON_PrintUnformatted(out);
    puts(text);
    free(text);
    cJSON_Delete(out);
    tarry_test_free(t);
    return 0;
}

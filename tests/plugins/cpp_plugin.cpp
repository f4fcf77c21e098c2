/*
 * cpp_plugin.cpp - a plugin written in C++17 (g++ -std=c++17 -Wall -Wextra
 * -pedantic -Werror), built against tarry.h as it is: the header is
 * extern "C"-clean, TARRY_PLUGIN exports an unmangled `tarry_plugin`, and
 * TARRY_FUNCTION works without designated initializers. A function with
 * options is given as a tarry_function_def value (the header's C++ way).
 *
 *   cpp_greet    args {"name": S}: {"greeting": "hello S", "chars": N} (std::string)
 *   cpp_flow     a workflow: calls cpp_greet, awaits it, runs a step whose body
 *                is a captureless lambda; {"child": RESULT, "step": {"upper": S}}
 *   cpp_limited  cpp_greet with concurrency 1 and retention "1d" (a def value)
 */
#include <tarry.h>

#include <cctype>
#include <string>

static tarry_status cpp_greet(tarry_ctx *ctx, const char *args)
{
    const char *name = tarry_json_str(ctx, args, "name");
    if (!name)
        return static_cast<tarry_status>(tarry_fail_permanent(ctx, "%s", tarry_last_error(ctx)));
    std::string greeting = std::string("hello ") + name;
    return static_cast<tarry_status>(tarry_set_result(
        ctx, tarry_json(ctx, "{\"greeting\":%s,\"chars\":%zu}", greeting.c_str(), greeting.size())));
}

static tarry_status cpp_flow(tarry_ctx *ctx, const char *args)
{
    tarry_handle child;
    tarry_result greeted, stepped;

    TARRY_TRY(tarry_call(ctx, "cpp_greet", args, nullptr, &child));
    TARRY_TRY(tarry_await(ctx, &child, &greeted));
    auto upper = [](tarry_ctx *c, void *user) -> tarry_status {
        std::string s = tarry_json_str(c, static_cast<const char *>(user), "greeting");
        for (char &ch : s)
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return static_cast<tarry_status>(tarry_set_result(c, tarry_json(c, "{\"upper\":%s}", s.c_str())));
    };
    TARRY_TRY(tarry_step(ctx, "upper", upper, const_cast<char *>(greeted.value_json), &stepped));
    return static_cast<tarry_status>(tarry_set_result(
        ctx, tarry_json(ctx, "{\"child\":%j,\"step\":%j}", greeted.value_json, stepped.value_json)));
}

static tarry_function_def cpp_limited()
{
    tarry_function_def def{};
    def.name = "cpp_limited";
    def.fn = cpp_greet;
    def.concurrency = 1;
    def.retention = "1d";
    return def;
}

TARRY_PLUGIN("cpp_plugin", "1.0.0", TARRY_FUNCTION("cpp_greet", cpp_greet),
             TARRY_FUNCTION("cpp_flow", cpp_flow), cpp_limited());

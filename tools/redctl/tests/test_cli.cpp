#include "cli.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace redctl {
namespace {

Options parse(std::vector<const char *> args) {
    args.insert(args.begin(), "redctl");
    return parse_args(args);
}

// The exit code and message of a parse that must fail.
std::pair<int, std::string> fail(std::vector<const char *> args) {
    try {
        (void)parse(std::move(args));
    } catch (const Failure &e) {
        return {e.code(), e.what()};
    }
    ADD_FAILURE() << "parse did not fail";
    return {0, ""};
}

TEST(Cli, Up) {
    auto o = parse({"up", "r0"});
    EXPECT_EQ(o.command, Command::Up);
    EXPECT_EQ(o.resource, "r0");
    EXPECT_EQ(o.config_path, "/etc/red/red.conf");
    EXPECT_FALSE(o.control_socket.has_value());
    EXPECT_FALSE(o.force);
    // --force: over a damaged epoch record only (redctl(8))
    EXPECT_TRUE(parse({"up", "--force", "r0"}).force);
    EXPECT_NE(help_text(Command::Up).find("damaged record"), std::string::npos);
}

TEST(Cli, OptionsBeforeAndAfterTheCommand) {
    auto o = parse({"-c", "/tmp/x.conf", "status", "--json", "--control-socket=/tmp/s", "r1"});
    EXPECT_EQ(o.command, Command::Status);
    EXPECT_EQ(o.config_path, "/tmp/x.conf");
    EXPECT_EQ(o.control_socket, "/tmp/s");
    EXPECT_TRUE(o.json);
    EXPECT_EQ(o.resource, "r1");
    auto p = parse({"--config=/a", "gc", "--timeout", "5", "r0"});
    EXPECT_EQ(p.config_path, "/a");
    EXPECT_EQ(p.timeout, std::chrono::seconds(5));
    EXPECT_FALSE(parse({"gc", "r0"}).timeout.has_value()); // the command's default
}

TEST(Cli, Promote) {
    auto o = parse({"promote", "r0"});
    EXPECT_EQ(o.command, Command::Promote);
    EXPECT_EQ(o.resource, "r0");
    EXPECT_FALSE(o.force);
    EXPECT_FALSE(o.timeout.has_value());
    auto f = parse({"promote", "--force", "--timeout=180", "r0"});
    EXPECT_TRUE(f.force);
    EXPECT_EQ(f.timeout, std::chrono::seconds(180));
    EXPECT_NE(help_text(Command::Promote).find("--force"), std::string::npos);
    EXPECT_NE(help_text(Command::None).find("promote [--force]"), std::string::npos);
}

TEST(Cli, Demote) {
    auto o = parse({"demote", "r0"});
    EXPECT_EQ(o.command, Command::Demote);
    EXPECT_EQ(o.resource, "r0");
    EXPECT_TRUE(parse({"demote", "--force", "r0"}).force);
}

TEST(Cli, GcHooks) {
    auto o =
        parse({"gc", "--pre-hook", "systemctl stop pg; umount /srv", "--post-hook=mount -a", "r0"});
    EXPECT_EQ(o.pre_hook, "systemctl stop pg; umount /srv");
    EXPECT_EQ(o.post_hook, "mount -a");
    auto p = parse({"gc", "r0"});
    EXPECT_FALSE(p.pre_hook.has_value());
    EXPECT_FALSE(p.post_hook.has_value());
    EXPECT_NE(help_text(Command::Gc).find("RED_PHASE"), std::string::npos);
}

TEST(Cli, ExitCodesInHelp) {
    const auto text = help_text(Command::None);
    EXPECT_NE(text.find("12 redd refused"), std::string::npos) << text;
    EXPECT_NE(text.find("13 gc hook failed"), std::string::npos) << text;
    EXPECT_EQ(exit_code::kRefused, 12);
    EXPECT_EQ(exit_code::kHook, 13);
}

TEST(Cli, StatusResourceIsOptional) {
    auto o = parse({"status"});
    EXPECT_FALSE(o.resource.has_value());
    EXPECT_FALSE(o.json);
}

TEST(Cli, DoubleDashEndsOptions) {
    auto o = parse({"down", "--", "-odd-name"});
    EXPECT_EQ(o.resource, "-odd-name");
}

TEST(Cli, HelpAndVersion) {
    EXPECT_TRUE(parse({"--help"}).help);
    EXPECT_EQ(parse({"--help"}).command, Command::None);
    auto o = parse({"up", "--help"});
    EXPECT_TRUE(o.help);
    EXPECT_EQ(o.command, Command::Up);
    EXPECT_TRUE(parse({"-V"}).version);
    EXPECT_NE(help_text(Command::None).find("Exit status"), std::string::npos);
    EXPECT_NE(help_text(Command::Gc).find("--timeout"), std::string::npos);
}

TEST(Cli, Errors) {
    struct Case {
        std::vector<const char *> args;
        std::string message;
    };
    const std::vector<Case> cases = {
        {{}, "no command given"},
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"up"}, "up needs a RESOURCE"},
        {{"gc"}, "gc needs a RESOURCE"},
        {{"up", "a", "b"}, "up: unexpected argument 'b'"},
        {{"events", "r0"}, "events: unexpected argument 'r0'"},
        {{"up", "--json", "r0"}, "--json does not apply to up"},
        {{"status", "--force"}, "--force does not apply to status"},
        {{"down", "--timeout", "3", "r0"}, "--timeout does not apply to down"},
        {{"gc", "--timeout", "0", "r0"}, "--timeout: expected whole seconds"},
        {{"gc", "--timeout", "5s", "r0"}, "--timeout: expected whole seconds"},
        {{"gc", "r0", "--timeout"}, "--timeout needs a value"},
        {{"status", "--json=yes"}, "--json takes no value"},
        {{"promote"}, "promote needs a RESOURCE"},
        {{"demote"}, "demote needs a RESOURCE"},
        {{"promote", "a", "b"}, "promote: unexpected argument 'b'"},
        {{"promote", "--json", "r0"}, "--json does not apply to promote"},
        {{"demote", "--timeout", "3", "r0"}, "--timeout does not apply to demote"},
        {{"promote", "--timeout", "0", "r0"}, "--timeout: expected whole seconds"},
        {{"promote", "--pre-hook", "x", "r0"}, "--pre-hook does not apply to promote"},
        {{"up", "--post-hook", "x", "r0"}, "--post-hook does not apply to up"},
        {{"gc", "--pre-hook", "", "r0"}, "--pre-hook needs a command"},
        {{"gc", "r0", "--post-hook"}, "--post-hook needs a value"},
        {{"status", "-x"}, "unknown option '-x'"},
        {{"-c", "", "status"}, "-c needs a file name"},
        {{"--control-socket=", "status"}, "--control-socket needs a path"},
    };
    for (const auto &c : cases) {
        auto [code, message] = fail(c.args);
        EXPECT_EQ(code, exit_code::kUsage) << message;
        EXPECT_NE(message.find(c.message), std::string::npos)
            << "got '" << message << "', want '" << c.message << "'";
    }
}

} // namespace
} // namespace redctl

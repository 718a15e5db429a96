#include "config.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace redd {
namespace {

namespace fs = std::filesystem;

const std::string kGood = R"(# a two-node cluster
[global]
node_id = 1
key_file = /etc/red/key
heartbeat_ms = 500
lease_ms = 3000
log_level = debug

[node.1]
address = 127.0.0.1:7788
[node.2]
address = [::1]:7789

[resource.pgdata]
lun = /dev/vdb
chunk_sectors = 128
store_size = 1G
writer = 1
lease_policy = error
)";

SecretKey stub_key(const std::string & /*path*/) {
    return SecretKey(Bytes(32, 0x5a));
}

Config parse(const std::string &text, const std::map<std::string, std::string> &overrides = {}) {
    return parse_config(text, "test.conf", overrides, stub_key);
}

// Replaces the first occurrence of `from` in the good config.
std::string edit(const std::string &from, const std::string &to) {
    std::string s = kGood;
    const auto pos = s.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    return s.replace(pos, from.size(), to);
}

// Expects a ConfigError at `line` whose message contains `what`.
void expect_error(const std::string &text, int line, const std::string &what,
                  const std::map<std::string, std::string> &overrides = {}) {
    try {
        parse(text, overrides);
        ADD_FAILURE() << "no error; wanted line " << line << ": " << what;
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.file(), overrides.empty() || line > 0 ? "test.conf" : e.file());
        EXPECT_EQ(e.line(), line) << e.what();
        EXPECT_NE(e.message().find(what), std::string::npos) << e.what();
        if (line > 0) {
            EXPECT_EQ(std::string(e.what()).rfind("test.conf:" + std::to_string(line) + ": ", 0),
                      0U)
                << e.what();
        }
    }
}

TEST(Config, ParsesAGoodFile) {
    const Config c = parse(kGood);
    EXPECT_EQ(c.node_id(), 1U);
    EXPECT_EQ(c.listen(), (Endpoint{"127.0.0.1", 7788}));
    EXPECT_EQ(c.key_file(), "/etc/red/key");
    EXPECT_EQ(c.key(), SecretKey(Bytes(32, 0x5a)));
    EXPECT_EQ(c.heartbeat(), Millis{500});
    EXPECT_EQ(c.lease(), Millis{3000});
    EXPECT_EQ(c.lease_margin(), Millis{300});
    EXPECT_EQ(c.log_level(), LogLevel::Debug);
    ASSERT_EQ(c.nodes().size(), 2U);
    EXPECT_EQ(c.node(2)->address, (Endpoint{"::1", 7789}));
    EXPECT_EQ(c.node(3), nullptr);
    ASSERT_EQ(c.resources().size(), 1U);
    const ResourceConfig &r = *c.resource("pgdata");
    EXPECT_EQ(r.lun, "/dev/vdb");
    EXPECT_EQ(r.chunk_sectors, 128U);
    EXPECT_EQ(r.store_bytes, 1ULL << 30);
    EXPECT_EQ(r.writer, 1U);
    EXPECT_EQ(r.lease_policy, LeasePolicy::Error);
}

TEST(Config, DefaultsAndComments) {
    const Config c = parse("[global]\r\nnode_id=2 # me\r\nkey_file=/k\n"
                           "[node.2]\naddress=db2.example.com:7788\n"
                           "\t# indented comment\n"
                           "[resource.r]\nlun=/dev/sdb\nstore_size=64K\nwriter=2\n");
    EXPECT_EQ(c.listen(), (Endpoint{"db2.example.com", 7788}));
    EXPECT_EQ(c.heartbeat(), Millis{500});
    EXPECT_EQ(c.lease(), Millis{3000});
    EXPECT_EQ(c.log_level(), LogLevel::Info);
    EXPECT_EQ(c.resource("r")->chunk_sectors, 128U);
    EXPECT_EQ(c.resource("r")->lease_policy, LeasePolicy::Suspend);
    EXPECT_EQ(c.resource("r")->stabilize_ahead, 0U);
}

TEST(Config, StabilizeAhead) {
    const Config c = parse(kGood + "stabilize_ahead = 64\n");
    EXPECT_EQ(c.resource("pgdata")->stabilize_ahead, 64U);
    EXPECT_EQ(parse(kGood + "stabilize_ahead = 1024\n").resource("pgdata")->stabilize_ahead, 1024U);
}

TEST(ConfigErrors, Syntax) {
    expect_error(edit("heartbeat_ms = 500", "heartbeat_ms 500"), 5, "syntax error");
    expect_error(edit("[node.1]", "[node.1"), 9, "syntax error");
    expect_error(edit("lease_ms = 3000", "= 3000"), 6, "missing key");
    expect_error("node_id = 1\n", 1, "outside of any section");
    expect_error(edit("log_level = debug", "log_level = de\x01"
                                           "bug"),
                 7, "control character");
    expect_error(edit("log_level = debug", "log_level =   "), 7, "empty value");
    expect_error(edit("log_level = debug", "log_level = " + std::string(5000, 'x')), 7,
                 "line longer");
}

TEST(ConfigErrors, SectionsAndKeys) {
    expect_error(edit("[node.2]", "[nodes.2]"), 11, "unknown section");
    expect_error(edit("[node.2]", "[node.x]"), 11, "node id must be");
    expect_error(edit("[node.2]", "[node.0]"), 11, "node id must be");
    expect_error(edit("[resource.pgdata]", "[resource.pg/data]"), 14, "resource name");
    expect_error(edit("[node.2]", "[node.1]"), 11, "duplicate section [node.1] (first at line 9)");
    expect_error(edit("lease_ms = 3000", "lease_ms = 3000\nlease_ms = 4000"), 7,
                 "duplicate key 'lease_ms' in [global] (first set at line 6)");
    expect_error(edit("log_level = debug", "loglevel = debug"), 7, "unknown key 'loglevel'");
    expect_error(edit("writer = 1", "address = 1.2.3.4:5"), 18, "unknown key 'address'");
}

TEST(ConfigErrors, MissingThings) {
    expect_error(edit("key_file = /etc/red/key\n", ""), 2, "missing required key 'key_file'");
    expect_error(edit("lun = /dev/vdb\n", ""), 14, "missing required key 'lun'");
    expect_error("[node.1]\naddress=1.2.3.4:5\n[resource.r]\nlun=/x\nstore_size=1G\nwriter=1\n", 0,
                 "missing [global]");
    expect_error(
        "[global]\nnode_id=1\nkey_file=/k\n[resource.r]\nlun=/x\nstore_size=1G\nwriter=1\n", 0,
        "no [node.N] sections");
    expect_error("[global]\nnode_id=1\nkey_file=/k\n[node.1]\naddress=1.2.3.4:5\n", 0,
                 "no [resource.NAME] sections");
}

TEST(ConfigErrors, BadValues) {
    expect_error(edit("chunk_sectors = 128", "chunk_sectors = 96"), 16, "not a power of two");
    expect_error(edit("chunk_sectors = 128", "chunk_sectors = 4"), 16, "from 8 to 2048");
    expect_error(edit("chunk_sectors = 128", "chunk_sectors = 4096"), 16, "from 8 to 2048");
    expect_error(edit("chunk_sectors = 128", "chunk_sectors = -8"), 16, "integer");
    expect_error(edit("127.0.0.1:7788", "127.0.0.1"), 10, "host:port");
    expect_error(edit("127.0.0.1:7788", "127.0.0.1:0"), 10, "host:port");
    expect_error(edit("127.0.0.1:7788", "127.0.0.1:65536"), 10, "host:port");
    expect_error(edit("127.0.0.1:7788", "300.0.0.1:7788"), 10, "host:port");
    expect_error(edit("127.0.0.1:7788", "-bad-:7788"), 10, "host:port");
    expect_error(edit("[::1]:7789", "[::g]:7789"), 12, "host:port");
    expect_error(edit("[::1]:7789", "127.0.0.1:7788"), 12, "also the address of node 1");
    expect_error(edit("node_id = 1", "node_id = 3"), 3, "node 3 has no [node.3] section");
    expect_error(edit("node_id = 1", "node_id = one"), 3, "expected an integer");
    expect_error(edit("writer = 1", "writer = 7"), 18, "node 7 has no [node.7] section");
    expect_error(edit("lease_ms = 3000", "lease_ms = 1000"), 6,
                 "must be more than twice heartbeat_ms");
    expect_error(edit("heartbeat_ms = 500", "heartbeat_ms = 5"), 5, "from 10 to");
    expect_error(edit("log_level = debug", "log_level = loud"), 7, "error, warn, info or debug");
    expect_error(edit("store_size = 1G", "store_size = 1X"), 17, "expected a size");
    expect_error(edit("store_size = 1G", "store_size = 4K"), 17, "smaller than one chunk");
    expect_error(edit("store_size = 1G", "store_size = 99999999999T"), 17, "expected a size");
    expect_error(edit("lease_policy = error", "lease_policy = panic"), 19, "suspend or error");
    expect_error(kGood + "stabilize_ahead = 1025\n", 20, "from 0 to 1024");
    expect_error(kGood + "stabilize_ahead = -1\n", 20, "integer");
    expect_error(kGood + "stabilize_ahead = lots\n", 20, "integer");
    expect_error(edit("lun = /dev/vdb", "lun = vdb"), 15, "absolute path");
    expect_error(kGood + "[resource.two]\nlun=/dev/vdb\nstore_size=1G\nwriter=2\n", 21,
                 "also the LUN of resource 'pgdata'");
}

TEST(ConfigErrors, KeyFileProblemsPointAtKeyFile) {
    const KeyLoader failing = [](const std::string &path) -> SecretKey {
        throw std::runtime_error("cannot read key file '" + path + "'");
    };
    try {
        parse_config(kGood, "test.conf", {}, failing);
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.line(), 4);
        EXPECT_NE(e.message().find("key_file: cannot read key file '/etc/red/key'"),
                  std::string::npos);
    }
}

TEST(Config, CommandLineOverrides) {
    const std::array<const char *, 7> argv = {"redd", "--config",    "/tmp/x.conf", "--node-id",
                                              "2",    "--log-level", "warn"};
    const CommandLine cl = parse_command_line(argv);
    EXPECT_EQ(cl.config_path, "/tmp/x.conf");
    EXPECT_FALSE(cl.help);
    const Config c = parse(kGood, cl.overrides);
    EXPECT_EQ(c.node_id(), 2U);
    EXPECT_EQ(c.listen(), (Endpoint{"::1", 7789})); // node 2's address
    EXPECT_EQ(c.log_level(), LogLevel::Warn);

    const Config l = parse(kGood, {{"listen", "0.0.0.0:9000"}});
    EXPECT_EQ(l.listen(), (Endpoint{"0.0.0.0", 9000}));
    // An override satisfies a required key the file lacks.
    const Config k = parse(edit("key_file = /etc/red/key\n", ""), {{"key_file", "/k"}});
    EXPECT_EQ(k.key_file(), "/k");
}

TEST(Config, ControlSocket) {
    EXPECT_EQ(parse(kGood).control_socket(), "/run/red/redd.sock");
    EXPECT_EQ(kDefaultControlSocket, "/run/red/redd.sock");
    const Config f = parse(edit("log_level = debug", "control_socket = /run/red2/ctl.sock"));
    EXPECT_EQ(f.control_socket(), "/run/red2/ctl.sock");
    const std::array<const char *, 3> argv = {"redd", "--control-socket", "/tmp/r/s"};
    const CommandLine cl = parse_command_line(argv);
    EXPECT_EQ(cl.overrides.at("control_socket"), "/tmp/r/s");
    // The override wins over the file.
    const Config o =
        parse(edit("log_level = debug", "control_socket = /run/red2/ctl.sock"), cl.overrides);
    EXPECT_EQ(o.control_socket(), "/tmp/r/s");
    // The longest path that fits sun_path (107 bytes and a NUL).
    const std::string longest = "/" + std::string(106, 's');
    EXPECT_EQ(parse(kGood, {{"control_socket", longest}}).control_socket(), longest);
    EXPECT_NE(command_line_help().find("--control-socket"), std::string::npos);
}

TEST(ConfigErrors, ControlSocket) {
    expect_error(edit("log_level = debug", "control_socket = run/redd.sock"), 7,
                 "control_socket: expected an absolute path, got 'run/redd.sock'");
    expect_error(edit("log_level = debug", "control_socket = /run/red/"), 7, "not of a directory");
    expect_error(edit("log_level = debug", "control_socket = /" + std::string(107, 's')), 7,
                 "longer than 107 bytes");
    try {
        parse(kGood, {{"control_socket", "/run/red\n/x"}});
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(std::string(e.what()),
                  "<command line>: --control-socket: control character in the path");
    }
    try {
        parse(kGood, {{"control_socket", "relative.sock"}});
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.file(), "<command line>");
        EXPECT_NE(e.message().find("--control-socket: expected an absolute path"),
                  std::string::npos);
    }
}

TEST(ConfigErrors, CommandLine) {
    try {
        parse(kGood, {{"node_id", "9"}});
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.file(), "<command line>");
        EXPECT_EQ(e.line(), 0);
        EXPECT_EQ(std::string(e.what()),
                  "<command line>: --node-id: node 9 has no [node.9] section");
    }
    const std::array<const char *, 2> bad = {"redd", "--no-such-option"};
    EXPECT_THROW(parse_command_line(bad), ConfigError);
    const std::array<const char *, 2> missing = {"redd", "--node-id"};
    EXPECT_THROW(parse_command_line(missing), ConfigError);
    EXPECT_NE(command_line_help().find("--lease-ms"), std::string::npos);
}

TEST(Config, Sizes) {
    EXPECT_EQ(parse_size("4096"), 4096U);
    EXPECT_EQ(parse_size("64k"), 65536U);
    EXPECT_EQ(parse_size("2M"), 2U << 20);
    EXPECT_EQ(parse_size("1T"), 1ULL << 40);
    EXPECT_EQ(parse_size(""), std::nullopt);
    EXPECT_EQ(parse_size("G"), std::nullopt);
    EXPECT_EQ(parse_size("0"), std::nullopt);
    EXPECT_EQ(parse_size("1.5G"), std::nullopt);
    EXPECT_EQ(parse_size("16777216T"), std::nullopt);
}

class ConfigFiles : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = (fs::temp_directory_path() / "redd-test-XXXXXX").string();
        ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { fs::remove_all(dir_); }

    fs::path write(const std::string &name, const std::string &content) const {
        fs::path p = dir_ / name;
        std::ofstream(p, std::ios::binary) << content;
        return p;
    }

    fs::path dir_;
};

TEST_F(ConfigFiles, LoadsFileAndKey) {
    const fs::path key = write("key", std::string(32, 'k'));
    const fs::path conf = write("red.conf", edit("/etc/red/key", key.string()));
    CommandLine cl;
    cl.config_path = conf.string();
    const Config c = load_config(cl);
    EXPECT_EQ(c.key(), SecretKey(Bytes(32, 'k')));
}

TEST_F(ConfigFiles, MissingKeyFileNamesFileAndLine) {
    const fs::path conf = write("red.conf", edit("/etc/red/key", (dir_ / "nokey").string()));
    CommandLine cl;
    cl.config_path = conf.string();
    try {
        load_config(cl);
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.file(), conf.string());
        EXPECT_EQ(e.line(), 4);
        EXPECT_NE(e.message().find("No such file or directory"), std::string::npos) << e.what();
    }
}

TEST_F(ConfigFiles, ShortKeyIsRefused) {
    const fs::path key = write("key", "short");
    const fs::path conf = write("red.conf", edit("/etc/red/key", key.string()));
    CommandLine cl;
    cl.config_path = conf.string();
    try {
        load_config(cl);
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.line(), 4);
        EXPECT_NE(e.message().find("16 to 4096 bytes"), std::string::npos) << e.what();
    }
}

TEST_F(ConfigFiles, MissingConfigFile) {
    CommandLine cl;
    cl.config_path = (dir_ / "absent.conf").string();
    try {
        load_config(cl);
        FAIL() << "no error";
    } catch (const ConfigError &e) {
        EXPECT_EQ(e.file(), cl.config_path);
        EXPECT_EQ(e.line(), 0);
        EXPECT_NE(e.message().find("cannot open"), std::string::npos);
    }
}

} // namespace
} // namespace redd

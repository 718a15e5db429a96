#include "table.hpp"

#include <charconv>
#include <sstream>
#include <vector>

namespace redctl {
namespace {

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto start = text.find_first_not_of(" \t\n", pos);
        if (start == std::string_view::npos) {
            break;
        }
        auto end = text.find_first_of(" \t\n", start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        words.push_back(text.substr(start, end - start));
        pos = end;
    }
    return words;
}

template <typename T>
bool parse_number(std::string_view text, T &out) {
    const auto *const end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return !text.empty() && ec == std::errc() && ptr == end;
}

// "<a>/<b>"
bool parse_pair(std::string_view text, std::uint64_t &a, std::uint64_t &b) {
    const auto slash = text.find('/');
    return slash != std::string_view::npos && parse_number(text.substr(0, slash), a) &&
           parse_number(text.substr(slash + 1), b);
}

} // namespace

std::string_view to_string(Role role) {
    return role == Role::Writer ? "writer" : "copier";
}

Role local_role(const redd::ResourceConfig &resource, std::uint32_t node_id) {
    return resource.writer == node_id ? Role::Writer : Role::Copier;
}

std::string_view to_string(RoleSource source) {
    return source == RoleSource::Lun ? "lun" : "config";
}

RoleDecision decide_role(const redd::ResourceConfig &resource, std::uint32_t node_id,
                         const std::optional<redd::lunmeta::EpochRecord> &record) {
    if (record && record->resource == resource.name && record->writer != 0) {
        return {record->writer == node_id ? Role::Writer : Role::Copier, record->writer,
                RoleSource::Lun};
    }
    return {local_role(resource, node_id), resource.writer, RoleSource::Config};
}

UpRole role_for_up(const redd::ResourceConfig &resource, std::uint32_t node_id,
                   const std::optional<redd::lunmeta::EpochRecord> &record, const std::string &why,
                   bool allow_damaged) {
    UpRole out;
    out.decision = decide_role(resource, node_id, record);
    if (record && record->resource != resource.name) {
        out.refusal = "the epoch record on " + resource.lun + " belongs to resource '" +
                      record->resource + "', not '" + resource.name +
                      "': is `lun` right in the configuration?";
    } else if (!record && why != redd::lunmeta::kBlank) {
        if (allow_damaged) {
            out.damaged = why;
        } else {
            out.refusal = "the epoch record on " + resource.lun + " is damaged (" + why +
                          "): it may have named another node the writer, so the configuration " +
                          "cannot decide; find the writer (redctl status on every node), then " +
                          "redctl up --force on it first (redctl(8))";
        }
    }
    return out;
}

std::string table_params(const redd::ResourceConfig &resource, Role role,
                         const std::string &store) {
    std::ostringstream out;
    out << resource.lun << ' ' << (role == Role::Writer ? std::string("-") : store) << ' '
        << resource.chunk_sectors << ' ' << to_string(role) << ' ' << resource.name;
    // stabilize_ahead only when configured, so that lines stay as they were
    if (resource.stabilize_ahead != 0) {
        out << " 4 lease_policy " << redd::to_string(resource.lease_policy) << " stabilize_ahead "
            << resource.stabilize_ahead;
    } else {
        out << " 2 lease_policy " << redd::to_string(resource.lease_policy);
    }
    return out.str();
}

std::optional<TableArgs> parse_table_params(std::string_view params) {
    const auto words = split_words(params);
    if (words.size() < 5) {
        return std::nullopt;
    }
    TableArgs args;
    args.lun = words[0];
    args.store = words[1];
    if (!parse_number(words[2], args.chunk_sectors)) {
        return std::nullopt;
    }
    args.role = words[3];
    args.resource = words[4];
    // [<#features> <feature>...]: lease_policy <policy>, stabilize_ahead <n>.
    if (words.size() > 5) {
        unsigned count = 0;
        if (!parse_number(words[5], count) || count != words.size() - 6) {
            return std::nullopt;
        }
        for (std::size_t i = 6; i < words.size(); ++i) {
            if (words[i] == "lease_policy" && i + 1 < words.size()) {
                args.lease_policy = words[++i];
            } else if (words[i] == "stabilize_ahead" && i + 1 < words.size() &&
                       parse_number(words[i + 1], args.stabilize_ahead)) {
                ++i;
            } else {
                return std::nullopt;
            }
        }
    }
    return args;
}

std::optional<KernelStatus> parse_status_params(std::string_view params) {
    const auto w = split_words(params);
    if (w.size() != 13) {
        return std::nullopt;
    }
    KernelStatus s;
    s.role = w[0];
    s.state = w[1];
    s.policy = w[12];
    const bool ok = parse_number(w[2], s.epoch) && parse_pair(w[3], s.store_used, s.store_total) &&
                    parse_pair(w[4], s.stable, s.nr_chunks) && parse_number(w[5], s.held) &&
                    parse_number(w[6], s.outstanding) && parse_number(w[7], s.oldest_ms) &&
                    parse_number(w[8], s.preserves) && parse_number(w[9], s.cow) &&
                    parse_number(w[10], s.errors) && parse_number(w[11], s.lease_left_ms);
    if (!ok || (s.role != "writer" && s.role != "copier")) {
        return std::nullopt;
    }
    return s;
}

nlohmann::json to_json(const KernelStatus &s) {
    return nlohmann::json{{"role", s.role},
                          {"state", s.state},
                          {"epoch", s.epoch},
                          {"store_used", s.store_used},
                          {"store_total", s.store_total},
                          {"stable", s.stable},
                          {"nr_chunks", s.nr_chunks},
                          {"held", s.held},
                          {"outstanding", s.outstanding},
                          {"oldest_ms", s.oldest_ms},
                          {"preserves", s.preserves},
                          {"cow", s.cow},
                          {"errors", s.errors},
                          {"lease_left_ms", s.lease_left_ms},
                          {"lease_policy", s.policy}};
}

nlohmann::json to_json(const redd::lunmeta::EpochRecord &r) {
    return nlohmann::json{{"resource", r.resource}, {"epoch", r.epoch},
                          {"writer", r.writer},     {"resigned", r.resigned},
                          {"members", r.members},   {"generation", r.generation}};
}

} // namespace redctl

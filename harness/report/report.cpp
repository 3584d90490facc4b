#include "harness/report/report.h"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

namespace egresslab::report {
namespace {

std::string joinComma(const std::vector<std::string>& items) {
  return fmt::format("{}", fmt::join(items, ", "));
}

std::string flagsText(const std::map<std::string, std::string>& flags) {
  std::vector<std::string> parts;
  for (const auto& [proxy, value] : flags) parts.push_back(proxy + "=" + value);
  return joinComma(parts);
}

// Escapes text for XML/HTML element content and attribute values.
std::string escapeMarkup(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // XML 1.0 forbids most control characters even escaped: drop them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\r' && c != '\t') break;
        out += c;
    }
  }
  return out;
}

std::string seconds(std::int64_t ms) {
  return fmt::format("{:.3f}", static_cast<double>(ms) / 1000.0);
}

nlohmann::json observedJson(const StepResult& step) {
  nlohmann::json observed = nlohmann::json::object();
  const Observation& o = step.observed;
  if (o.exit) observed["exit"] = *o.exit;
  if (o.status) observed["status"] = *o.status;
  if (step.kind != "fault") {
    observed["via"] = o.via;
    observed["flags"] = o.flags;
  }
  return observed;
}

}  // namespace

std::string describeObservation(const Observation& o) {
  std::vector<std::string> parts;
  if (o.exit) parts.push_back(fmt::format("exit {}", *o.exit));
  if (o.status) parts.push_back(fmt::format("status {}", *o.status));
  if (!o.via.empty()) parts.push_back(fmt::format("via [{}]", joinComma(o.via)));
  if (!o.flags.empty()) parts.push_back(fmt::format("flags {{{}}}", flagsText(o.flags)));
  if (!o.curlError.empty()) parts.push_back(o.curlError);
  if (parts.empty()) return "nothing";
  return joinComma(parts);
}

std::string toJson(const RunReport& run) {
  nlohmann::json scenarios = nlohmann::json::array();
  for (const auto& scenario : run.scenarios) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : scenario.steps) {
      steps.push_back({{"name", step.name},
                       {"result", outcomeName(step.outcome)},
                       {"durationMs", step.durationMs},
                       {"attempts", step.attempts},
                       {"observed", observedJson(step)},
                       {"message", step.message}});
    }
    nlohmann::json entry = {{"name", scenario.name},
                            {"file", scenario.file},
                            {"istioVersion", scenario.istioVersion},
                            {"result", outcomeName(scenario.outcome)},
                            {"durationMs", scenario.durationMs},
                            {"steps", std::move(steps)}};
    // Not in the minimal contract, but a scenario that could not run must say why.
    if (!scenario.message.empty()) entry["message"] = scenario.message;
    scenarios.push_back(std::move(entry));
  }
  const Summary s = run.summary();
  const nlohmann::json doc = {
      {"tool", run.tool},
      {"version", run.version},
      {"backend", run.backend},
      {"scenarios", std::move(scenarios)},
      {"summary",
       {{"passed", s.passed}, {"failed", s.failed}, {"error", s.error}, {"skipped", s.skipped}}}};
  return doc.dump(2) + "\n";
}

std::string toJUnit(const RunReport& run) {
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  int tests = 0, failures = 0, errors = 0, skipped = 0;
  std::int64_t totalMs = 0;
  std::string suites;
  for (const auto& scenario : run.scenarios) {
    int sTests = 0, sFailures = 0, sErrors = 0, sSkipped = 0;
    std::string cases;
    auto addCase = [&](const std::string& name, std::int64_t ms, Outcome outcome,
                       const std::string& message, const std::string& detail,
                       const std::vector<std::string>& log) {
      ++sTests;
      cases += fmt::format("    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">\n",
                           escapeMarkup(name), escapeMarkup(scenario.name), seconds(ms));
      if (outcome == Outcome::kFailed) {
        ++sFailures;
        cases += fmt::format("      <failure message=\"{}\">{}</failure>\n", escapeMarkup(message),
                             escapeMarkup(detail));
      } else if (outcome == Outcome::kError) {
        ++sErrors;
        cases += fmt::format("      <error message=\"{}\">{}</error>\n", escapeMarkup(message),
                             escapeMarkup(detail));
      } else if (outcome == Outcome::kSkipped) {
        ++sSkipped;
        cases += "      <skipped/>\n";
      }
      if (!log.empty()) {
        std::string lines;
        for (const auto& line : log) lines += line + "\n";
        cases += fmt::format("      <system-out>{}</system-out>\n", escapeMarkup(lines));
      }
      cases += "    </testcase>\n";
    };
    for (const auto& step : scenario.steps) {
      const std::string detail =
          step.outcome == Outcome::kPassed
              ? std::string()
              : fmt::format("request:  {}\nexpected: {}\nobserved: {}\n{}", step.request,
                            step.expected, describeObservation(step.observed), step.message);
      addCase(step.name, step.durationMs, step.outcome, step.message, detail,
              step.observed.accessLog);
    }
    // A scenario that errored outside any step (e.g. the mesh did not come up) still shows.
    if (scenario.outcome == Outcome::kError && sErrors == 0) {
      addCase("scenario setup", 0, Outcome::kError, scenario.message, scenario.message,
              scenario.diagnostics);
    }
    suites += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" "
        "time=\"{}\" file=\"{}\">\n",
        escapeMarkup(scenario.name), sTests, sFailures, sErrors, sSkipped,
        seconds(scenario.durationMs), escapeMarkup(scenario.file));
    suites += fmt::format(
        "    <properties>\n      <property name=\"istioVersion\" value=\"{}\"/>\n"
        "      <property name=\"backend\" value=\"{}\"/>\n    </properties>\n",
        escapeMarkup(scenario.istioVersion), escapeMarkup(run.backend));
    suites += cases;
    suites += "  </testsuite>\n";
    tests += sTests;
    failures += sFailures;
    errors += sErrors;
    skipped += sSkipped;
    totalMs += scenario.durationMs;
  }
  xml += fmt::format(
      "<testsuites name=\"egresslab\" tests=\"{}\" failures=\"{}\" errors=\"{}\" "
      "skipped=\"{}\" time=\"{}\">\n",
      tests, failures, errors, skipped, seconds(totalMs));
  xml += suites;
  xml += "</testsuites>\n";
  return xml;
}

namespace {

std::string_view outcomeColor(Outcome o) {
  switch (o) {
    case Outcome::kPassed:
      return "#1a7f37";
    case Outcome::kFailed:
      return "#cf222e";
    case Outcome::kError:
      return "#9a6700";
    case Outcome::kSkipped:
      return "#6e7781";
  }
  return "#6e7781";
}

// A failover rehearsal at a glance: one lane, time on x; each curl step is a bar from its start
// to its end coloured by outcome, each fault a vertical marker with its label.
std::string timelineSvg(const ScenarioResult& scenario) {
  std::int64_t end = 1;
  for (const auto& step : scenario.steps) end = std::max(end, step.startMs + step.durationMs);
  constexpr double kWidth = 900, kLeft = 20, kLaneTop = 30, kLaneHeight = 28;
  const double scale = (kWidth - 2 * kLeft) / static_cast<double>(end);
  std::string svg = fmt::format(
      "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"110\" "
      "role=\"img\" aria-label=\"timeline of {}\">\n",
      kWidth, escapeMarkup(scenario.name));
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8c959f\"/>\n", kLeft,
                     kLaneTop + kLaneHeight + 6, kWidth - kLeft, kLaneTop + kLaneHeight + 6);
  for (int tick = 0; tick <= 4; ++tick) {
    const double ms = static_cast<double>(end) * tick / 4.0;
    svg += fmt::format(
        "<text x=\"{:.1f}\" y=\"{}\" font-size=\"10\" fill=\"#57606a\">{:.0f} ms</text>\n",
        kLeft + ms * scale, kLaneTop + kLaneHeight + 20, ms);
  }
  for (const auto& step : scenario.steps) {
    const double x = kLeft + static_cast<double>(step.startMs) * scale;
    if (step.kind == "fault") {
      svg += fmt::format(
          "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#8250df\" "
          "stroke-width=\"2\" stroke-dasharray=\"4 2\"/><text x=\"{0:.1f}\" y=\"{3}\" "
          "font-size=\"10\" fill=\"#8250df\">{4}</text>\n",
          x, kLaneTop - 8, kLaneTop + kLaneHeight + 6, kLaneTop - 12, escapeMarkup(step.name));
      continue;
    }
    const double w = std::max(2.0, static_cast<double>(step.durationMs) * scale);
    svg += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\" "
        "opacity=\"0.85\"><title>{} — {} ({} ms, {} attempts): {}</title></rect>\n",
        x, kLaneTop, w, kLaneHeight, outcomeColor(step.outcome), escapeMarkup(step.name),
        outcomeName(step.outcome), step.durationMs, step.attempts,
        escapeMarkup(describeObservation(step.observed)));
  }
  svg += "</svg>\n";
  return svg;
}

constexpr std::string_view kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px}h2{font-size:16px;margin:28px 0 8px}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.passed{color:#1a7f37}.failed{color:#cf222e}.error{color:#9a6700}.skipped{color:#6e7781}
pre{background:#f6f8fa;padding:6px;margin:4px 0;white-space:pre-wrap;word-break:break-all;font-size:12px}
details{margin:4px 0}summary{cursor:pointer}code{font-size:12px}
)";

}  // namespace

std::string toHtml(const RunReport& run) {
  const Summary s = run.summary();
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<title>EgressLab report</title>\n<style>";
  html += kStyle;
  html += "</style></head><body>\n";
  html += fmt::format(
      "<h1>EgressLab report</h1>\n<p>backend <b>{}</b> · egresslab {} · <span "
      "class=\"passed\">{} passed</span>, <span class=\"failed\">{} failed</span>, <span "
      "class=\"error\">{} error</span>, <span class=\"skipped\">{} skipped</span></p>\n",
      escapeMarkup(run.backend), escapeMarkup(run.version), s.passed, s.failed, s.error, s.skipped);
  html += "<table><tr><th>scenario</th><th>Istio</th><th>result</th><th>duration</th></tr>\n";
  for (std::size_t i = 0; i < run.scenarios.size(); ++i) {
    const auto& sc = run.scenarios[i];
    html += fmt::format(
        "<tr><td><a href=\"#s{}\">{}</a></td><td>{}</td><td class=\"{}\">{}</td><td>{} "
        "ms</td></tr>\n",
        i, escapeMarkup(sc.name), escapeMarkup(sc.istioVersion), outcomeName(sc.outcome),
        outcomeName(sc.outcome), sc.durationMs);
  }
  html += "</table>\n";
  for (std::size_t i = 0; i < run.scenarios.size(); ++i) {
    const auto& sc = run.scenarios[i];
    html += fmt::format("<h2 id=\"s{}\"><span class=\"{}\">{}</span> {} <small>({})</small></h2>\n",
                        i, outcomeName(sc.outcome), sc.outcome == Outcome::kPassed ? "✓" : "✗",
                        escapeMarkup(sc.name), escapeMarkup(sc.file));
    if (!sc.message.empty()) html += fmt::format("<pre>{}</pre>\n", escapeMarkup(sc.message));
    if (sc.hasFaults) html += timelineSvg(sc);
    html +=
        "<table><tr><th>step</th><th>result</th><th>request</th><th>expected</th>"
        "<th>observed</th><th>time</th></tr>\n";
    for (const auto& step : sc.steps) {
      std::string observed = escapeMarkup(describeObservation(step.observed));
      if (!step.message.empty()) {
        observed += fmt::format("<pre>{}</pre>", escapeMarkup(step.message));
      }
      if (!step.observed.accessLog.empty()) {
        std::string lines;
        for (const auto& line : step.observed.accessLog) lines += line + "\n";
        observed +=
            fmt::format("<details><summary>access log ({} lines)</summary><pre>{}</pre></details>",
                        step.observed.accessLog.size(), escapeMarkup(lines));
      }
      html += fmt::format(
          "<tr><td>{}</td><td class=\"{}\">{}</td><td><code>{}</code></td><td>{}</td><td>{}</td>"
          "<td>{} ms · {} attempt{}</td></tr>\n",
          escapeMarkup(step.name), outcomeName(step.outcome), outcomeName(step.outcome),
          escapeMarkup(step.request), escapeMarkup(step.expected), observed, step.durationMs,
          step.attempts, step.attempts == 1 ? "" : "s");
    }
    html += "</table>\n";
    if (!sc.diagnostics.empty()) {
      std::string lines;
      for (const auto& line : sc.diagnostics) lines += line + "\n";
      html += fmt::format("<details><summary>diagnostics</summary><pre>{}</pre></details>\n",
                          escapeMarkup(lines));
    }
  }
  html += "</body></html>\n";
  return html;
}

std::string ConsoleReporter::prefix(const std::string& scenario) const {
  if (!prefix_ || scenario.empty()) return "  ";
  return fmt::format("  [{}] ", scenario);
}

void ConsoleReporter::scenarioStarted(const std::string& name, const std::string& file) {
  std::lock_guard lock(mu_);
  out_ << fmt::format("▶ {} ({})\n", name, file) << std::flush;
}

void ConsoleReporter::stepFinished(const std::string& scenario, const StepResult& step) {
  std::lock_guard lock(mu_);
  const char* mark = step.outcome == Outcome::kPassed    ? "✓"
                     : step.outcome == Outcome::kSkipped ? "-"
                                                         : "✗";
  std::string line =
      fmt::format("{}{} {} ({} ms", prefix(scenario), mark, step.name, step.durationMs);
  if (step.attempts > 1) line += fmt::format(", {} attempts", step.attempts);
  line += ")\n";
  const bool failed = step.outcome == Outcome::kFailed || step.outcome == Outcome::kError;
  if (failed || verbose_) {
    const std::string indent = prefix(scenario) + "    ";
    if (!step.request.empty()) line += fmt::format("{}request:  {}\n", indent, step.request);
    if (!step.expected.empty()) line += fmt::format("{}expected: {}\n", indent, step.expected);
    if (step.kind != "fault") {
      line += fmt::format("{}observed: {}\n", indent, describeObservation(step.observed));
    }
    if (failed && !step.message.empty()) {
      // Every line of a multi-line message keeps the step's indentation.
      std::istringstream message(step.message);
      for (std::string part; std::getline(message, part);) {
        line += fmt::format("{}{}\n", indent, part);
      }
    }
    for (const auto& log : step.observed.accessLog) line += fmt::format("{}| {}\n", indent, log);
  }
  out_ << line << std::flush;
}

void ConsoleReporter::progress(const std::string& scenario, const std::string& text) {
  std::lock_guard lock(mu_);
  out_ << fmt::format("{}… {}\n", prefix(scenario), text) << std::flush;
}

void ConsoleReporter::scenarioFinished(const ScenarioResult& scenario) {
  std::lock_guard lock(mu_);
  const char* mark = scenario.outcome == Outcome::kPassed    ? "✓"
                     : scenario.outcome == Outcome::kSkipped ? "-"
                                                             : "✗";
  std::string line = fmt::format("{} {} {} in {} ms\n", mark, scenario.name,
                                 outcomeName(scenario.outcome), scenario.durationMs);
  if (!scenario.message.empty()) line += fmt::format("  {}\n", scenario.message);
  out_ << line << std::flush;
}

void ConsoleReporter::summary(const RunReport& run) {
  std::lock_guard lock(mu_);
  std::size_t width = 8;
  for (const auto& sc : run.scenarios) width = std::max(width, sc.name.size());
  std::string table = fmt::format("\n{:<{}}  {:<7}  {:>5}  {:>9}  {}\n", "scenario", width,
                                  "result", "steps", "time", "istio");
  for (const auto& sc : run.scenarios) {
    const auto passedSteps = std::count_if(sc.steps.begin(), sc.steps.end(), [](const auto& st) {
      return st.outcome == Outcome::kPassed;
    });
    table += fmt::format(
        "{:<{}}  {:<7}  {:>5}  {:>6} ms  {}\n", sc.name, width, outcomeName(sc.outcome),
        fmt::format("{}/{}", passedSteps, sc.steps.size()), sc.durationMs, sc.istioVersion);
  }
  const Summary s = run.summary();
  table += fmt::format("{} passed, {} failed, {} error, {} skipped\n", s.passed, s.failed, s.error,
                       s.skipped);
  out_ << table << std::flush;
}

}  // namespace egresslab::report

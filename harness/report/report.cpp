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

// "sleep: UH, httpbin-egress: -" — the way expectations are written (and runner messages).
std::string flagsText(const std::map<std::string, std::string>& flags) {
  std::vector<std::string> parts;
  for (const auto& [proxy, value] : flags) parts.push_back(proxy + ": " + value);
  return joinComma(parts);
}

// "1 line", "3 lines".
std::string counted(std::size_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// A step that sent one request (not a fault, load or wait): it has an observation.
bool isRequestStep(const StepResult& step) {
  return step.kind != "fault" && step.kind != "load" && step.kind != "wait";
}

// "41 ms", "1.25 s".
std::string durationText(std::int64_t ms) {
  if (ms < 1000) return fmt::format("{} ms", ms);
  return fmt::format("{:.2f} s", static_cast<double>(ms) / 1000.0);
}

std::string percentOf(int part, int whole) {
  if (whole == 0) return "-";
  return fmt::format("{:.4g}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string msText(const std::optional<double>& ms) {
  return ms ? fmt::format("{:.3g}ms", *ms) : std::string("-");
}

nlohmann::json requestJson(const StepResult& step) {
  nlohmann::json request = {{"curl", nullptr}, {"from", nullptr}};
  if (step.kind == "fault") {
    request["fault"] = step.request;
    return request;
  }
  if (step.kind == "load" || step.kind == "wait") request[step.kind] = step.request;
  if (!step.curl.empty()) request["curl"] = step.curl;
  if (step.from) request["from"] = *step.from;
  return request;
}

nlohmann::json logsJson(const StepResult& step) {
  nlohmann::json logs = nlohmann::json::object();
  for (auto& [proxy, lines] : logsByProxy(step.observed.accessLog)) logs[proxy] = lines;
  return logs;
}

// What a step asked and saw, as plain text (JUnit system-out, HTML details).
std::string stepTranscript(const StepResult& step) {
  std::string text;
  if (step.kind == "fault") return fmt::format("fault:    {}\n", step.request);
  if (step.kind == "wait") return fmt::format("wait:     {}\n", step.request);
  if (step.kind == "load") {
    text += fmt::format("load:     {}\n", step.request);
    if (!step.expected.empty()) text += fmt::format("expected: {}\n", step.expected);
    if (!step.load) return text;
    text += fmt::format("observed: {}\n", loadSummary(*step.load));
    for (const auto& c : step.load->checks) {
      text += fmt::format("  {} {} {}: observed {}\n", c.held ? "✓" : "✗", c.key, c.condition,
                          c.observed);
    }
    text += "per second (start, requests, successes, p50, p99, served by):\n";
    for (const auto& w : step.load->windows) {
      std::vector<std::string> served;
      for (const auto& [name, n] : w.servedBy) served.push_back(fmt::format("{} {}", name, n));
      text +=
          fmt::format("  {:>8} {:>6} {:>6} {:>9} {:>9} {}\n", durationText(w.startMs), w.count,
                      w.success, w.p50Ms ? fmt::format("{:.3g}ms", *w.p50Ms) : "-",
                      w.p99Ms ? fmt::format("{:.3g}ms", *w.p99Ms) : "-", fmt::join(served, ", "));
    }
    return text;
  }
  text += fmt::format("request:  curl {}\n", step.curl.empty() ? step.request : step.curl);
  text += fmt::format("from:     {}\n", step.from.value_or("the host"));
  if (!step.expected.empty()) text += fmt::format("expected: {}\n", step.expected);
  text += fmt::format("observed: {}\n", describeObservation(step.observed));
  text += fmt::format("attempts: {}\n", step.attempts);
  if (!step.attemptSummary.empty()) text += fmt::format("          {}\n", step.attemptSummary);
  for (const auto& [proxy, lines] : logsByProxy(step.observed.accessLog)) {
    text += fmt::format("access log of {} ({}):\n", proxy, counted(lines.size(), "line", "lines"));
    for (const auto& line : lines) text += "  " + line + "\n";
  }
  return text;
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
  if (isRequestStep(step)) {
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

std::string loadSummary(const LoadResult& load) {
  std::string text = fmt::format("load {}: {} requests in {} ({:g}/s), {} success, {} {}",
                                 load.name, load.requests, durationText(load.durationMs), load.rate,
                                 percentOf(load.successes, load.requests), load.errors,
                                 load.errors == 1 ? "error" : "errors");
  if (load.dropped > 0) text += fmt::format(" ({} dropped)", load.dropped);
  text += fmt::format(", p50 {} p90 {} p99 {}", msText(load.p50Ms), msText(load.p90Ms),
                      msText(load.p99Ms));
  if (!load.statuses.empty()) {
    std::vector<std::string> parts;
    for (const auto& [code, n] : load.statuses) parts.push_back(fmt::format("{}×{}", n, code));
    text += fmt::format(", statuses {}", joinComma(parts));
  }
  if (!load.servedBy.empty()) {
    std::vector<std::string> parts;
    for (const auto& [name, n] : load.servedBy) {
      parts.push_back(fmt::format("{} {}", name, percentOf(n, load.requests)));
    }
    text += fmt::format(", servedBy {}", joinComma(parts));
  }
  if (load.stoppedAtEnd) text += " (no load.stop step: stopped at the scenario's end)";
  return text;
}

nlohmann::json loadJson(const LoadResult& load) {
  const auto optionalMs = [](const std::optional<double>& v) -> nlohmann::json {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
  };
  const auto codes = [](const std::map<int, int>& m) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [code, n] : m) j[std::to_string(code)] = n;
    return j;
  };
  nlohmann::json windows = nlohmann::json::array();
  for (const auto& w : load.windows) {
    windows.push_back({{"startMs", w.startMs},
                       {"count", w.count},
                       {"success", w.success},
                       {"p50Ms", optionalMs(w.p50Ms)},
                       {"p99Ms", optionalMs(w.p99Ms)},
                       {"servedBy", w.servedBy}});
  }
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : load.checks) {
    checks.push_back(
        {{"key", c.key}, {"condition", c.condition}, {"observed", c.observed}, {"held", c.held}});
  }
  return {{"name", load.name},
          {"curl", load.curl},
          {"from", load.from ? nlohmann::json(*load.from) : nlohmann::json(nullptr)},
          {"rate", load.rate},
          {"concurrency", load.concurrency},
          {"startMs", load.startMs},
          {"durationMs", load.durationMs},
          {"requests", load.requests},
          {"successes", load.successes},
          {"errors", load.errors},
          {"dropped", load.dropped},
          {"statuses", codes(load.statuses)},
          {"exits", codes(load.exits)},
          {"servedBy", load.servedBy},
          {"p50Ms", optionalMs(load.p50Ms)},
          {"p90Ms", optionalMs(load.p90Ms)},
          {"p99Ms", optionalMs(load.p99Ms)},
          {"stoppedAtEnd", load.stoppedAtEnd},
          {"notes", load.notes},
          {"checks", std::move(checks)},
          {"windows", std::move(windows)}};
}

std::string toJson(const RunReport& run) {
  nlohmann::json scenarios = nlohmann::json::array();
  for (const auto& scenario : run.scenarios) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : scenario.steps) {
      nlohmann::json entry = {{"name", step.name},
                              {"result", outcomeName(step.outcome)},
                              {"durationMs", step.durationMs},
                              {"attempts", step.attempts},
                              {"request", requestJson(step)},
                              {"expected", step.expectedJson},
                              {"observed", observedJson(step)},
                              {"logs", logsJson(step)},
                              {"message", step.message}};
      // docs/design.md "Load and SLOs": additive, on load steps only.
      if (step.load) entry["load"] = loadJson(*step.load);
      steps.push_back(std::move(entry));
    }
    nlohmann::json entry = {{"name", scenario.name},
                            {"file", scenario.file},
                            {"istioVersion", scenario.istioVersion},
                            {"result", outcomeName(scenario.outcome)},
                            {"durationMs", scenario.durationMs},
                            {"steps", std::move(steps)},
                            {"notSimulated", scenario.notSimulated}};
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
  // Bytes from the wire (a body excerpt in a message, a User-Agent in an access-log line) need
  // not be UTF-8: they are replaced (U+FFFD), never allowed to throw and end the run.
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
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
                       const std::string& out) {
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
      if (!out.empty()) {
        cases += fmt::format("      <system-out>{}</system-out>\n", escapeMarkup(out));
      }
      cases += "    </testcase>\n";
    };
    for (const auto& step : scenario.steps) {
      const std::string detail =
          step.outcome == Outcome::kPassed
              ? std::string()
              : fmt::format(
                    "request:  {}\nexpected: {}\nobserved: {}\n{}", step.request, step.expected,
                    step.load ? loadSummary(*step.load) : describeObservation(step.observed),
                    step.message);
      addCase(step.name, step.durationMs, step.outcome, step.message, detail, stepTranscript(step));
    }
    // A scenario that errored outside any step (e.g. the mesh did not come up) still shows.
    if (scenario.outcome == Outcome::kError && sErrors == 0) {
      std::string out;
      for (const auto& line : scenario.diagnostics) out += line + "\n";
      addCase("scenario setup", 0, Outcome::kError, scenario.message, scenario.message, out);
    }
    suites += fmt::format(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" "
        "time=\"{}\" file=\"{}\">\n",
        escapeMarkup(scenario.name), sTests, sFailures, sErrors, sSkipped,
        seconds(scenario.durationMs), escapeMarkup(scenario.file));
    std::string properties = fmt::format(
        "      <property name=\"istioVersion\" value=\"{}\"/>\n"
        "      <property name=\"backend\" value=\"{}\"/>\n",
        escapeMarkup(scenario.istioVersion), escapeMarkup(run.backend));
    if (!scenario.description.empty()) {
      properties += fmt::format("      <property name=\"description\" value=\"{}\"/>\n",
                                escapeMarkup(scenario.description));
    }
    if (!scenario.labels.empty()) {
      properties += fmt::format("      <property name=\"labels\" value=\"{}\"/>\n",
                                escapeMarkup(joinComma(scenario.labels)));
    }
    // docs/design.md "Nothing unmodelled passes silently": one property per note.
    for (const auto& note : scenario.notSimulated) {
      properties +=
          fmt::format("      <property name=\"notSimulated\" value=\"{}\"/>\n", escapeMarkup(note));
    }
    suites += "    <properties>\n" + properties + "    </properties>\n";
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

std::string_view outcomeMark(Outcome o) {
  switch (o) {
    case Outcome::kPassed:
      return "✓";
    case Outcome::kSkipped:
      return "-";
    default:
      return "✗";
  }
}

bool isBad(Outcome o) { return o == Outcome::kFailed || o == Outcome::kError; }

// A failover rehearsal at a glance (inline SVG, no script): one row per step, time on x. The
// step names sit in a left gutter sized to the longest name (monospace, so its width is known),
// so no label is clipped; each curl step is a bar from its start to its end coloured by
// outcome, each fault a dashed line across every row with a diamond on its own row.
std::string timelineSvg(const ScenarioResult& scenario) {
  std::int64_t end = 1;
  for (const auto& step : scenario.steps) end = std::max(end, step.startMs + step.durationMs);
  std::size_t longest = 8;
  for (const auto& step : scenario.steps) {
    longest = std::max(longest, std::string_view(step.name).size());
  }
  // Loads: one band each under the step rows, its per-second windows as stacked bars
  // (successes below, errors above), crossed by the fault lines.
  std::vector<const LoadResult*> loads;
  int busiest = 1;
  for (const auto& step : scenario.steps) {
    if (!step.load) continue;
    loads.push_back(&*step.load);
    end = std::max(end, step.load->startMs + step.load->durationMs);
    longest = std::max(longest, step.load->name.size() + 5);  // "load NAME"
    for (const auto& w : step.load->windows) busiest = std::max(busiest, w.count);
  }
  constexpr double kFontSize = 12, kCharWidth = kFontSize * 0.6;  // monospace advance
  constexpr double kRow = 22, kTop = 10, kPlot = 600, kPad = 12, kLoadRow = 44;
  const double gutter = static_cast<double>(longest) * kCharWidth + 2 * kPad;
  const double width = gutter + kPlot + 2 * kPad;
  const double loadsTop = kTop + static_cast<double>(scenario.steps.size()) * kRow;
  const double axisY = loadsTop + static_cast<double>(loads.size()) * kLoadRow + 6;
  const double height = axisY + 30;
  const double scale = kPlot / static_cast<double>(end);
  const auto xOf = [&](std::int64_t ms) { return gutter + static_cast<double>(ms) * scale; };

  std::string svg = fmt::format(
      "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" "
      "height=\"{:.0f}\" viewBox=\"0 0 {:.0f} {:.0f}\" role=\"img\" aria-label=\"timeline of "
      "{}\" font-family=\"ui-monospace,SFMono-Regular,Menlo,Consolas,monospace\" "
      "font-size=\"{}\">\n",
      width, height, width, height, escapeMarkup(scenario.name), kFontSize);
  // Axis with five ticks.
  svg += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" "
      "stroke=\"#8c959f\"/>\n",
      gutter, axisY, gutter + kPlot, axisY);
  for (int tick = 0; tick <= 4; ++tick) {
    const auto ms = end * tick / 4;
    const char* anchor = tick == 0 ? "start" : tick == 4 ? "end" : "middle";
    svg += fmt::format(
        "<text class=\"tick\" x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"{}\" fill=\"#57606a\">"
        "{}</text>\n",
        xOf(ms), axisY + 16, anchor, durationText(ms));
  }
  double y = kTop;
  for (const auto& step : scenario.steps) {
    svg += fmt::format("<text class=\"label\" x=\"{:.1f}\" y=\"{:.1f}\" fill=\"{}\">{}</text>\n",
                       kPad, y + kRow * 0.7, step.kind == "fault" ? "#8250df" : "#1f2328",
                       escapeMarkup(step.name));
    const double x = xOf(step.startMs);
    if (step.kind == "fault") {
      svg += fmt::format(
          "<line class=\"fault\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" "
          "stroke=\"#8250df\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n"
          "<path d=\"M{0:.1f} {3:.1f} l6 6 l-6 6 l-6 -6 z\" fill=\"#8250df\"><title>{4} at "
          "{5}</title></path>\n",
          x, kTop, axisY, y + kRow / 2 - 6, escapeMarkup(step.request), durationText(step.startMs));
    } else {
      const double w = std::max(3.0, static_cast<double>(step.durationMs) * scale);
      svg += fmt::format(
          "<rect class=\"bar {}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" "
          "rx=\"2\" fill=\"{}\"><title>{} — {} ({}, {}): {}</title></rect>\n",
          outcomeName(step.outcome), x, y + 4, w, kRow - 8, outcomeColor(step.outcome),
          escapeMarkup(step.name), outcomeName(step.outcome), durationText(step.durationMs),
          counted(static_cast<std::size_t>(std::max(0, step.attempts)), "attempt", "attempts"),
          escapeMarkup(describeObservation(step.observed)));
    }
    y += kRow;
  }
  for (const LoadResult* load : loads) {
    svg += fmt::format(
        "<text class=\"load-label\" x=\"{:.1f}\" y=\"{:.1f}\" fill=\"#0969da\">load {}</text>\n",
        kPad, y + kLoadRow * 0.55, escapeMarkup(load->name));
    const double bottom = y + kLoadRow - 4;
    const double full = kLoadRow - 8;
    const std::int64_t loadEnd = load->startMs + load->durationMs;
    for (const auto& w : load->windows) {
      const std::int64_t wEnd = std::max(w.startMs + 1, std::min(w.startMs + 1000, loadEnd));
      const double x = xOf(w.startMs);
      const double wWidth = std::max(1.0, xOf(wEnd) - x - 0.5);
      const double okHeight = full * w.success / busiest;
      const double errHeight = full * (w.count - w.success) / busiest;
      std::vector<std::string> served;
      for (const auto& [name, n] : w.servedBy) served.push_back(fmt::format("{} {}", name, n));
      const std::string title = escapeMarkup(
          fmt::format("load {} at {}: {} requests, {} successes, p50 {}, p99 {}{}", load->name,
                      durationText(w.startMs), w.count, w.success, msText(w.p50Ms), msText(w.p99Ms),
                      served.empty() ? std::string() : ", served by " + joinComma(served)));
      svg += fmt::format(
          "<g class=\"window\" data-load=\"{}\" data-start-ms=\"{}\" data-count=\"{}\" "
          "data-success=\"{}\"><title>{}</title>"
          "<rect class=\"window-ok\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
          "height=\"{:.1f}\" fill=\"#1a7f37\"/>"
          "<rect class=\"window-error\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" "
          "height=\"{:.1f}\" fill=\"#cf222e\"/></g>\n",
          escapeMarkup(load->name), w.startMs, w.count, w.success, title, x, bottom - okHeight,
          wWidth, okHeight, x, bottom - okHeight - errHeight, wWidth, errHeight);
    }
    y += kLoadRow;
  }
  // Fault marks are drawn last, on top of the load bands they cut across.
  y = kTop;
  for (const auto& step : scenario.steps) {
    if (step.kind == "fault" && !loads.empty()) {
      svg += fmt::format(
          "<line class=\"fault-over-load\" x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" "
          "y2=\"{2:.1f}\" stroke=\"#8250df\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>\n",
          xOf(step.startMs), loadsTop, axisY);
    }
    y += kRow;
  }
  svg += "</svg>\n";
  return svg;
}

constexpr std::string_view kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;max-width:1400px}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:32px 0 6px}
table{border-collapse:collapse;margin:8px 0;width:100%}
td,th{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.passed{color:#1a7f37}.failed{color:#cf222e}.error{color:#9a6700}.skipped{color:#6e7781}
.summary{border:1px solid #d0d7de;border-radius:6px;padding:12px 16px;background:#f6f8fa}
.summary table{width:auto;background:#fff}
.totals span{font-weight:600;margin-right:10px}
tr.bad>td{background:#ffebe9}tr.bad.error>td{background:#fff8c5}
tr.detail>td{padding:0 8px 8px}
.description{margin:4px 0;color:#424a53}
.label{display:inline-block;border:1px solid #d0d7de;border-radius:10px;padding:0 8px;margin-right:4px;font-size:12px;background:#f6f8fa}
.banner{border:1px solid #d4a72c;background:#fff8c5;border-radius:6px;padding:8px 12px;margin:8px 0}
.banner ul{margin:4px 0 0;padding-left:20px}
pre{background:#f6f8fa;padding:6px 8px;margin:4px 0;font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre.message{white-space:pre-wrap;overflow-wrap:anywhere}
pre.log{white-space:pre;overflow-x:auto;max-height:24em;overflow-y:auto}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
details{margin:4px 0}summary{cursor:pointer}
.timeline-box{overflow-x:auto;border:1px solid #d0d7de;border-radius:6px;margin:8px 0;background:#fff}
)";

// The detail row under a step: message, attempts and the access log per proxy. Open for a
// failed or errored step, so a reader sees why without clicking.
std::string stepDetail(const StepResult& step) {
  std::string inner;
  if (!step.message.empty()) {
    inner += fmt::format("<pre class=\"message\">{}</pre>", escapeMarkup(step.message));
  }
  if (!step.attemptSummary.empty()) {
    inner += fmt::format("<p class=\"attempts\">{}</p>", escapeMarkup(step.attemptSummary));
  }
  if (step.load) {
    inner += fmt::format("<p class=\"load-summary\">{}</p>", escapeMarkup(loadSummary(*step.load)));
    if (!step.load->checks.empty()) {
      inner += "<table class=\"load-checks\"><tr><th></th><th>condition</th><th>observed</th></tr>";
      for (const auto& c : step.load->checks) {
        inner +=
            fmt::format("<tr class=\"{}\"><td>{}</td><td><code>{} {}</code></td><td>{}</td></tr>",
                        c.held ? "passed" : "failed", c.held ? "✓" : "✗", escapeMarkup(c.key),
                        escapeMarkup(c.condition), escapeMarkup(c.observed));
      }
      inner += "</table>";
    }
    inner +=
        "<table class=\"load-windows\"><tr><th>second</th><th>requests</th><th>successes</th>"
        "<th>p50</th><th>p99</th><th>served by</th></tr>";
    for (const auto& w : step.load->windows) {
      std::vector<std::string> served;
      for (const auto& [name, n] : w.servedBy) served.push_back(fmt::format("{} {}", name, n));
      inner +=
          fmt::format("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                      durationText(w.startMs), w.count, w.success, msText(w.p50Ms), msText(w.p99Ms),
                      escapeMarkup(joinComma(served)));
    }
    inner += "</table>";
  }
  std::size_t lines = 0;
  std::string logs;
  for (const auto& [proxy, entries] : logsByProxy(step.observed.accessLog)) {
    lines += entries.size();
    std::string text;
    for (const auto& line : entries) text += line + "\n";
    logs += fmt::format("<div class=\"proxy-log\"><b>{}</b><pre class=\"log\">{}</pre></div>",
                        escapeMarkup(proxy), escapeMarkup(text));
  }
  if (inner.empty() && logs.empty()) return "";
  std::string summary = "details";
  if (lines > 0) summary = "access log (" + counted(lines, "line", "lines") + ")";
  return fmt::format(
      "<tr class=\"detail {}{}\"><td colspan=\"6\"><details{}><summary>{}</summary>{}{}"
      "</details></td></tr>\n",
      outcomeName(step.outcome), isBad(step.outcome) ? " bad" : "",
      isBad(step.outcome) ? " open" : "", summary, inner, logs);
}

}  // namespace

std::string toHtml(const RunReport& run) {
  const Summary s = run.summary();
  std::size_t stepCount = 0;
  for (const auto& sc : run.scenarios) stepCount += sc.steps.size();
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>EgressLab report</title>\n<style>";
  html += kStyle;
  html += "</style></head><body>\n";
  // The summary first: totals, then one row per scenario (failed ones highlighted).
  html += "<header id=\"summary\" class=\"summary\">\n<h1>EgressLab report</h1>\n";
  html += fmt::format(
      "<p class=\"totals\"><span class=\"passed\">{} passed</span><span class=\"failed\">{} "
      "failed</span><span class=\"error\">{} error</span><span class=\"skipped\">{} "
      "skipped</span> {}, {} · backend <b>{}</b> · egresslab {}</p>\n",
      s.passed, s.failed, s.error, s.skipped,
      counted(run.scenarios.size(), "scenario", "scenarios"), counted(stepCount, "step", "steps"),
      escapeMarkup(run.backend), escapeMarkup(run.version));
  html +=
      "<table class=\"scenarios\"><tr><th>scenario</th><th>result</th><th>steps passed</th>"
      "<th>Istio</th><th>duration</th></tr>\n";
  for (std::size_t i = 0; i < run.scenarios.size(); ++i) {
    const auto& sc = run.scenarios[i];
    const auto passedSteps = std::count_if(sc.steps.begin(), sc.steps.end(), [](const auto& st) {
      return st.outcome == Outcome::kPassed;
    });
    html += fmt::format(
        "<tr class=\"{}{}\"><td><a href=\"#s{}\">{}</a></td><td class=\"{}\">{} {}</td>"
        "<td>{}/{}</td><td>{}</td><td>{}</td></tr>\n",
        outcomeName(sc.outcome), isBad(sc.outcome) ? " bad" : "", i, escapeMarkup(sc.name),
        outcomeName(sc.outcome), outcomeMark(sc.outcome), outcomeName(sc.outcome), passedSteps,
        sc.steps.size(), escapeMarkup(sc.istioVersion), durationText(sc.durationMs));
  }
  html += "</table>\n</header>\n";

  for (std::size_t i = 0; i < run.scenarios.size(); ++i) {
    const auto& sc = run.scenarios[i];
    html += fmt::format("<section class=\"scenario {}\" id=\"s{}\">\n", outcomeName(sc.outcome), i);
    html += fmt::format(
        "<h2><span class=\"{}\">{}</span> {} <small>{} · {} · Istio {}</small></h2>\n",
        outcomeName(sc.outcome), outcomeMark(sc.outcome), escapeMarkup(sc.name),
        escapeMarkup(sc.file), durationText(sc.durationMs), escapeMarkup(sc.istioVersion));
    if (!sc.description.empty()) {
      html += fmt::format("<p class=\"description\">{}</p>\n", escapeMarkup(sc.description));
    }
    if (!sc.labels.empty()) {
      html += "<p class=\"labels\">";
      for (const auto& label : sc.labels) {
        html += fmt::format("<span class=\"label\">{}</span>", escapeMarkup(label));
      }
      html += "</p>\n";
    }
    if (!sc.notSimulated.empty()) {
      html += fmt::format(
          "<div class=\"banner not-simulated\" role=\"note\"><b>Not simulated</b> — the "
          "simulator does not model {}; a step whose request crosses a proxy it changes "
          "cannot be trusted:<ul>",
          sc.notSimulated.size() == 1 ? "this" : "these");
      for (const auto& note : sc.notSimulated) {
        html += fmt::format("<li>{}</li>", escapeMarkup(note));
      }
      html += "</ul></div>\n";
    }
    if (!sc.message.empty()) {
      html += fmt::format("<pre class=\"message scenario-message\">{}</pre>\n",
                          escapeMarkup(sc.message));
    }
    if (sc.hasFaults) html += "<div class=\"timeline-box\">" + timelineSvg(sc) + "</div>\n";
    html +=
        "<table class=\"steps\"><tr><th>step</th><th>result</th><th>request</th><th>expected</th>"
        "<th>observed</th><th>time</th></tr>\n";
    for (const auto& step : sc.steps) {
      std::string request = fmt::format("<code>{}</code>", escapeMarkup(step.request));
      html += fmt::format(
          "<tr class=\"step {}{}\"><td>{}</td><td class=\"{}\">{} {}</td><td>{}</td><td>{}</td>"
          "<td>{}</td><td>{} · {}</td></tr>\n",
          outcomeName(step.outcome), isBad(step.outcome) ? " bad" : "", escapeMarkup(step.name),
          outcomeName(step.outcome), outcomeMark(step.outcome), outcomeName(step.outcome), request,
          escapeMarkup(step.expected),
          step.load ? escapeMarkup(loadSummary(*step.load))
          : step.kind == "fault" || step.kind == "wait" || step.kind == "load"
              ? std::string()
              : escapeMarkup(describeObservation(step.observed)),
          durationText(step.durationMs),
          counted(static_cast<std::size_t>(std::max(0, step.attempts)), "attempt", "attempts"));
      html += stepDetail(step);
    }
    html += "</table>\n";
    if (!sc.diagnostics.empty()) {
      std::string lines;
      for (const auto& line : sc.diagnostics) lines += line + "\n";
      html += fmt::format(
          "<details class=\"diagnostics\"{}><summary>diagnostics</summary><pre "
          "class=\"log\">{}</pre></details>\n",
          isBad(sc.outcome) ? " open" : "", escapeMarkup(lines));
    }
    html += "</section>\n";
  }
  html += "</body></html>\n";
  return html;
}

std::string ConsoleReporter::prefix(const std::string& scenario) const {
  if (!prefix_ || scenario.empty()) return "  ";
  return fmt::format("  [{}] ", scenario);
}

void ConsoleReporter::clearTransient() {
  if (!transientShown_) return;
  out_ << "\r\033[K";
  transientShown_ = false;
}

void ConsoleReporter::scenarioStarted(const std::string& name, const std::string& file) {
  std::lock_guard lock(mu_);
  clearTransient();
  out_ << fmt::format("▶ {} ({})\n", name, file) << std::flush;
}

void ConsoleReporter::notSimulated(const std::string& scenario,
                                   const std::vector<std::string>& notes) {
  std::lock_guard lock(mu_);
  clearTransient();
  std::string text = fmt::format(
      "{}! not simulated (a step whose request crosses a proxy this changes is an "
      "error; --allow-unsimulated runs it anyway):\n",
      prefix(scenario));
  for (const auto& note : notes) text += fmt::format("{}    {}\n", prefix(scenario), note);
  out_ << text << std::flush;
}

void ConsoleReporter::stepFinished(const std::string& scenario, const StepResult& step) {
  std::lock_guard lock(mu_);
  clearTransient();
  std::string line = fmt::format("{}{} {} ({}", prefix(scenario), outcomeMark(step.outcome),
                                 step.name, durationText(step.durationMs));
  if (step.attempts > 1) line += fmt::format(", {} attempts", step.attempts);
  line += ")\n";
  const std::string indent = prefix(scenario) + "    ";
  const bool failed = isBad(step.outcome);
  // docs/scenarios.md "Load and SLOs": every stopped load gets its one-line summary.
  if (step.load) line += fmt::format("{}{}\n", indent, loadSummary(*step.load));
  if (!failed && !step.attemptSummary.empty()) {
    line += fmt::format("{}{}\n", indent, step.attemptSummary);
  }
  if (failed || verbose_) {
    if (!step.request.empty()) line += fmt::format("{}request:  {}\n", indent, step.request);
    if (!step.expected.empty()) line += fmt::format("{}expected: {}\n", indent, step.expected);
    if (isRequestStep(step)) {
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
  clearTransient();
  out_ << fmt::format("{}… {}\n", prefix(scenario), text) << std::flush;
}

void ConsoleReporter::stepProgress(const std::string& scenario, const std::string& text) {
  // Parallel scenarios would fight over one line; logs want no per-attempt lines.
  if (!tty_ || prefix_) return;
  std::lock_guard lock(mu_);
  std::string line = fmt::format("{}… {}", prefix(scenario), text);
  // One terminal line: cut at a character boundary so it never wraps into a second.
  constexpr std::size_t kMaxBytes = 110;
  if (line.size() > kMaxBytes) {
    std::size_t cut = kMaxBytes;
    while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;
    line = line.substr(0, cut) + "…";
  }
  out_ << "\r\033[K" << line << std::flush;
  transientShown_ = true;
}

void ConsoleReporter::scenarioFinished(const ScenarioResult& scenario) {
  std::lock_guard lock(mu_);
  clearTransient();
  std::string line = fmt::format("{} {} {} in {}\n", outcomeMark(scenario.outcome), scenario.name,
                                 outcomeName(scenario.outcome), durationText(scenario.durationMs));
  if (!scenario.message.empty()) line += fmt::format("  {}\n", scenario.message);
  out_ << line << std::flush;
}

void ConsoleReporter::summary(const RunReport& run) {
  std::lock_guard lock(mu_);
  clearTransient();
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

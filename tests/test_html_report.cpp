#include "cyclegan/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cyclegan/errors.h"
#include "test_helpers.h"

namespace cyclegan {
namespace {

namespace fs = std::filesystem;

// A valid 2 x 2 RGB PNG.
const unsigned char kTinyPng[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0xfd, 0xd4, 0x9a,
    0x73, 0x00, 0x00, 0x00, 0x15, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x38, 0xa1, 0xa1, 0xa1,
    0x71, 0x42, 0x83, 0x01, 0x48, 0x7c, 0xf8, 0xf0, 0x01, 0x00, 0x22, 0x1e, 0x06, 0x19, 0xbe, 0x8a,
    0x76, 0x7c, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

const char* const kHeader =
    "step,epoch,d_a,d_b,g_total,g_validity,g_reconstr,g_identity,learning_rate,seconds_per_step";

const std::vector<std::pair<std::string, std::vector<std::string>>> kCharts{
    {"discriminators", {"d_a", "d_b"}},
    {"generator_total", {"g_total"}},
    {"validity", {"g_validity"}},
    {"reconstruction", {"g_reconstr"}},
    {"identity", {"g_identity"}},
    {"learning_rate", {"learning_rate"}},
    {"seconds_per_step", {"seconds_per_step"}},
};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

void write_png(const fs::path& path) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(kTinyPng), sizeof kTinyPng);
}

std::string sample_name(int step) {
  char name[32];
  std::snprintf(name, sizeof name, "step_%06d.png", step);
  return name;
}

// `rows` rows of smooth synthetic losses, a constant learning rate, a few non-finite values of
// d_b, and (when `partial`) the first half of one more row, unterminated, as a kill leaves it.
std::string synthetic_losses(int rows, bool partial) {
  std::ostringstream csv;
  csv << kHeader << "\n";
  for (int step = 1; step <= rows; ++step) {
    const double t = step / 100.0;
    csv << step << ',' << 1 + step / 1000 << ',' << 0.25 + 0.1 * std::sin(t) << ',';
    if (step == 500) {
      csv << "nan";
    } else if (step == 501) {
      csv << "inf";
    } else {
      csv << 0.25 + 0.1 * std::cos(t);
    }
    csv << ',' << 5 + 3 * std::exp(-t) << ',' << 1 + 0.2 * std::sin(3 * t) << ','
        << 0.3 + 0.5 * std::exp(-t) << ',' << 0.2 + 0.4 * std::exp(-t) << ",0.0002,"
        << 0.05 + 0.001 * (step % 7) << "\n";
  }
  if (partial) csv << rows + 1 << ",3,0.31,0.2";
  return csv.str();
}

// A run directory as training leaves it.
void make_run(const fs::path& run, int rows = 2500, bool partial = true) {
  write_text(
      run / "config.yaml",
      "data:\n  root: \"datasets/<script>alert('x')</script>\"\ntrain:\n  max_steps: 2500\n");
  write_text(run / "losses.csv", synthetic_losses(rows, partial));
  for (const int step : {1000, 200, 2500}) write_png(run / "samples" / sample_name(step));
  write_text(run / "checkpoints" / "step_00000100.pt", "dummy checkpoint");
  write_text(run / "g_AB.pt", std::string(3 << 20, 'x'));  // 3 MiB
  write_text(run / "train.log", "[info] step 1\n[info] step 2 <done>\n");
}

// page[from, end of the first `end` after it), or "" when `marker` is missing.
std::string element(const std::string& page, const std::string& marker, const std::string& end,
                    size_t from = 0) {
  const size_t begin = page.find(marker, from);
  if (begin == std::string::npos) return {};
  const size_t stop = page.find(end, begin);
  return stop == std::string::npos ? std::string() : page.substr(begin, stop + end.size() - begin);
}

std::string attribute(const std::string& tag, const std::string& name) {
  const std::string marker = " " + name + "=\"";
  const size_t begin = tag.find(marker);
  if (begin == std::string::npos) return {};
  const size_t value = begin + marker.size();
  return tag.substr(value, tag.find('"', value) - value);
}

std::vector<std::string> all_elements(const std::string& text, const std::string& marker,
                                      const std::string& end) {
  std::vector<std::string> found;
  for (size_t at = text.find(marker); at != std::string::npos; at = text.find(marker, at + 1)) {
    found.push_back(element(text, marker, end, at));
  }
  return found;
}

std::string chart(const std::string& page, const std::string& name) {
  return element(page, "<svg class=\"curve\" data-chart=\"" + name + "\"", "</svg>");
}

std::string polyline(const std::string& svg, const std::string& series) {
  return element(svg, "<polyline data-series=\"" + series + "\"", "/>");
}

std::vector<std::pair<double, double>> points_of(const std::string& polyline) {
  std::vector<std::pair<double, double>> points;
  std::istringstream stream(attribute(polyline, "points"));
  std::string pair;
  while (stream >> pair) {
    const size_t comma = pair.find(',');
    points.emplace_back(std::stod(pair.substr(0, comma)), std::stod(pair.substr(comma + 1)));
  }
  return points;
}

// The step numbers of the captions in `html`, in order.
std::vector<int> caption_steps(const std::string& html) {
  std::vector<int> steps;
  for (const std::string& caption : all_elements(html, "<figcaption>step ", "</figcaption>")) {
    steps.push_back(std::stoi(caption.substr(std::string("<figcaption>step ").size())));
  }
  return steps;
}

TEST(HtmlReport, DrawsEveryChartWithBoundedPointsInsideTheViewBox) {
  testing::TempDir run;
  make_run(run.path());
  const std::string page = render_html_report(run.path());
  for (const auto& [name, series] : kCharts) {
    const std::string svg = chart(page, name);
    ASSERT_FALSE(svg.empty()) << "chart " << name;
    double width = 0, height = 0, x0 = 0, y0 = 0;
    ASSERT_EQ(std::sscanf(attribute(svg, "viewBox").c_str(), "%lf %lf %lf %lf", &x0, &y0, &width,
                          &height),
              4);
    for (const std::string& s : series) {
      const std::string line = polyline(svg, s);
      ASSERT_FALSE(line.empty()) << name << " has no polyline " << s;
      const auto points = points_of(line);
      EXPECT_GE(points.size(), 700u) << s;  // 2500 steps, downsampled to about 800
      EXPECT_LE(points.size(), 800u) << s;
      for (const auto& [x, y] : points) {
        ASSERT_TRUE(std::isfinite(x) && std::isfinite(y)) << s;
        EXPECT_GE(x, x0) << s;
        EXPECT_LE(x, x0 + width) << s;
        EXPECT_GE(y, y0) << s;
        EXPECT_LE(y, y0 + height) << s;
      }
      for (size_t i = 1; i < points.size(); ++i) EXPECT_LT(points[i - 1].first, points[i].first);
      EXPECT_NE(svg.find(">" + s + " "), std::string::npos) << "legend of " << s;
    }
  }
}

TEST(HtmlReport, KeepsFirstAndLastPointsAndSkipsNonFiniteValues) {
  testing::TempDir run;
  make_run(run.path(), 300, false);  // short enough to draw every step
  const std::string page = render_html_report(run.path());
  const auto d_a = points_of(polyline(chart(page, "discriminators"), "d_a"));
  const auto d_b = points_of(polyline(chart(page, "discriminators"), "d_b"));
  EXPECT_EQ(d_a.size(), 300u);
  EXPECT_EQ(d_b.size(), 300u);  // steps 1..300: no nan/inf row in range

  testing::TempDir long_run;
  make_run(long_run.path());
  const std::string long_page = render_html_report(long_run.path());
  const std::string discriminators = chart(long_page, "discriminators");
  const auto first = points_of(polyline(discriminators, "d_a"));
  const auto second = points_of(polyline(discriminators, "d_b"));
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  // Both series start at step 1 and end at step 2500 (the same x), although d_b has a NaN and an
  // infinity in between.
  EXPECT_DOUBLE_EQ(first.front().first, second.front().first);
  EXPECT_DOUBLE_EQ(first.back().first, second.back().first);
  EXPECT_EQ(discriminators.find("nan"), std::string::npos);
  EXPECT_EQ(discriminators.find("inf"), std::string::npos);
}

TEST(HtmlReport, ASeriesWithoutFiniteValuesSaysSo) {
  testing::TempDir run;
  make_run(run.path(), 0, false);
  write_text(run.path() / "losses.csv", std::string(kHeader) +
                                            "\n1,1,0.5,0.5,5,1,0.3,nan,0.0002,0.05\n"
                                            "2,1,0.4,0.4,4,1,0.3,inf,0.0002,0.05\n");
  const std::string page = render_html_report(run.path());
  EXPECT_TRUE(chart(page, "identity").empty());
  const std::string identity = element(page, "<figcaption>Identity</figcaption>", "</figure>");
  EXPECT_NE(identity.find("no finite values"), std::string::npos) << identity;
  EXPECT_EQ(points_of(polyline(chart(page, "generator_total"), "g_total")).size(), 2u);
}

TEST(HtmlReport, ConstantSeriesIsAFlatLineInsideThePlot) {
  testing::TempDir run;
  make_run(run.path());
  const std::string svg = chart(render_html_report(run.path()), "learning_rate");
  const auto points = points_of(polyline(svg, "learning_rate"));
  ASSERT_GE(points.size(), 2u);
  for (const auto& point : points) {
    EXPECT_DOUBLE_EQ(point.second, points.front().second);
    EXPECT_GT(point.second, 0);
    EXPECT_LT(point.second, 260);
  }
}

TEST(HtmlReport, SummaryUsesTheLastCompleteRowAndIgnoresThePartialLine) {
  testing::TempDir run;
  make_run(run.path());
  const std::string page = render_html_report(run.path());
  const std::string header = element(page, "<header>", "</header>");
  EXPECT_NE(header.find("step 2500, epoch 3"), std::string::npos) << header;
  EXPECT_EQ(header.find("2501"), std::string::npos);
  EXPECT_EQ(element(page, "<section id=\"summary\">", "</section>").find(">2501<"),
            std::string::npos);
  EXPECT_NE(page.find("1 malformed or partial line"), std::string::npos);
  // Median of the last 100 seconds_per_step values (0.05 + 0.001 * (step % 7)) is 0.053.
  EXPECT_NE(page.find("0.053 s"), std::string::npos);
  for (const char* term : {"d_a", "d_b", "g_total", "g_validity", "g_reconstr", "g_identity"}) {
    EXPECT_NE(page.find("<tr><td>" + std::string(term) + "</td>"), std::string::npos) << term;
  }
}

TEST(HtmlReport, SkipsAnUnterminatedLastRowEvenWhenItParses) {
  testing::TempDir run;
  make_run(run.path(), 0, false);
  // The writer ends every row with a newline: this one was cut inside its last number.
  write_text(run.path() / "losses.csv",
             synthetic_losses(5, false) + "6,1,0.3,0.3,5,1,0.3,0.2,0.0002,0.0");
  const std::string page = render_html_report(run.path());
  EXPECT_NE(element(page, "<header>", "</header>").find("step 5,"), std::string::npos);
  EXPECT_EQ(points_of(polyline(chart(page, "seconds_per_step"), "seconds_per_step")).size(), 5u);
}

TEST(HtmlReport, ARestartedRunSupersedesTheRepeatedSteps) {
  testing::TempDir run;
  make_run(run.path(), 0, false);
  std::string csv = synthetic_losses(10, false);
  csv += "6,1,9,9,9,9,9,9,0.0002,0.05\n7,1,9,9,9,9,9,9,0.0002,0.05\n";  // resumed from step 5
  csv += "not,a,row\n";
  write_text(run.path() / "losses.csv", csv);
  const std::string page = render_html_report(run.path());
  EXPECT_EQ(points_of(polyline(chart(page, "generator_total"), "g_total")).size(), 7u);
  EXPECT_NE(element(page, "<header>", "</header>").find("step 7,"), std::string::npos);
}

TEST(HtmlReport, QualityChartsDrawEachDirectionsMeasuresAndSkipTheCutOffRow) {
  testing::TempDir run;
  make_run(run.path(), 20, false);
  EXPECT_EQ(chart(render_html_report(run.path()), "quality_psnr"), "") << "no quality.csv yet";
  // A2B has ground truth, B2A has not (empty fields); step 20 was measured again after a resume;
  // the last row was cut off by a kill.
  write_text(run.path() / "quality.csv",
             "step,direction,images,cycle_l1,identity_l1,paired,paired_l1,paired_psnr,"
             "paired_ssim\n"
             "10,A2B,2,0.2,0.1,2,0.15,14.5,0.41\n10,B2A,2,0.3,0.2,0,,,\n"
             "20,A2B,2,0.1,0.1,2,0.12,15.5,0.5\n20,B2A,2,0.25,0.2,0,,,\n"
             "20,A2B,2,0.1,0.1,2,0.12,16.25,0.5\n30,A2B,2,0.1,0.1,2,0.1,17");
  const std::string page = render_html_report(run.path());
  const std::string psnr = chart(page, "quality_psnr");
  EXPECT_EQ(points_of(polyline(psnr, "A2B")).size(), 2u) << psnr;
  EXPECT_EQ(polyline(psnr, "B2A"), "") << "B2A has no ground truth";
  EXPECT_NE(psnr.find("A2B 16.25"), std::string::npos) << "the later step-20 row wins: " << psnr;
  const std::string cycle = chart(page, "quality_cycle");
  EXPECT_EQ(points_of(polyline(cycle, "A2B")).size(), 2u);
  EXPECT_EQ(points_of(polyline(cycle, "B2A")).size(), 2u);
  EXPECT_NE(page.find("<a href=\"#quality\">Quality</a>"), std::string::npos);
}

TEST(HtmlReport, SampleGridsInStepOrderWithRelativePathsNewestFirst) {
  testing::TempDir run;
  make_run(run.path());
  write_text(run.path() / "samples" / "notes.txt", "not a grid");
  const std::string page = render_html_report(run.path());
  const std::string latest = element(page, "<figure class=\"latest\">", "</figure>");
  EXPECT_EQ(attribute(latest, "src"), "samples/step_002500.png");
  const std::string timeline = element(page, "<div class=\"timeline\">", "</div>");
  std::vector<std::string> sources;
  for (const std::string& img : all_elements(timeline, "<img ", ">")) {
    sources.push_back(attribute(img, "src"));
    EXPECT_NE(img.find("onerror="), std::string::npos);
    EXPECT_EQ(attribute(img, "width"), "2");  // read from the PNG header
  }
  EXPECT_EQ(sources, (std::vector<std::string>{"samples/step_000200.png", "samples/step_001000.png",
                                               "samples/step_002500.png"}));
  EXPECT_EQ(caption_steps(timeline), (std::vector<int>{200, 1000, 2500}));
  EXPECT_EQ(page.find(run.path().string() + "/samples"), std::string::npos);  // never absolute
}

TEST(HtmlReport, ShowsFortyEvenlySpacedGridsIncludingFirstAndNewest) {
  testing::TempDir run;
  make_run(run.path());
  fs::remove_all(run.path() / "samples");
  for (int step = 10; step <= 1000; step += 10)
    write_png(run.path() / "samples" / sample_name(step));
  const std::string page = render_html_report(run.path());
  const std::vector<int> steps = caption_steps(element(page, "<div class=\"timeline\">", "</div>"));
  ASSERT_EQ(steps.size(), 40u);
  EXPECT_EQ(steps.front(), 10);
  EXPECT_EQ(steps.back(), 1000);
  for (size_t i = 1; i < steps.size(); ++i) {
    EXPECT_GT(steps[i], steps[i - 1]);
    EXPECT_LE(steps[i] - steps[i - 1], 40);  // evenly spread, not the first 40
  }
}

TEST(HtmlReport, EscapesTextTakenFromFiles) {
  testing::TempDir run;
  make_run(run.path());
  const std::string page = render_html_report(run.path());
  const std::string config = element(page, "<pre class=\"config\">", "</pre>");
  EXPECT_NE(config.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos)
      << config;
  EXPECT_EQ(page.find("<script>alert"), std::string::npos);
  EXPECT_NE(page.find("step 2 &lt;done&gt;"), std::string::npos);  // train.log tail
}

TEST(HtmlReport, ListsCheckpointsAndNetworkFiles) {
  testing::TempDir run;
  make_run(run.path());
  const std::string table =
      element(render_html_report(run.path()), "<table class=\"checkpoints\">", "</table>");
  const std::string checkpoint =
      element(table, "<code>checkpoints/step_00000100.pt</code>", "</tr>");
  ASSERT_FALSE(checkpoint.empty()) << table;
  EXPECT_NE(checkpoint.find(">100</td>"), std::string::npos);
  EXPECT_NE(checkpoint.find(" UTC</td>"), std::string::npos);
  const std::string generator = element(table, "<code>g_AB.pt</code>", "</tr>");
  EXPECT_NE(generator.find(">3.00</td>"), std::string::npos) << generator;
  EXPECT_EQ(table.find("g_BA.pt"), std::string::npos);  // absent files are not listed
}

TEST(HtmlReport, NoDataYetInsteadOfChartsForZeroOrOneRows) {
  for (const std::string& csv : {std::string(), std::string(kHeader) + "\n",
                                 std::string(kHeader) + "\n1,1,1,1,1,1,1,1,1,1\n"}) {
    testing::TempDir run;
    make_run(run.path());
    write_text(run.path() / "losses.csv", csv);
    const std::string page = render_html_report(run.path());
    EXPECT_NE(element(page, "<section id=\"curves\">", "</section>").find("no data yet"),
              std::string::npos);
    EXPECT_EQ(page.find("<svg"), std::string::npos);
    EXPECT_EQ(page.find("<polyline"), std::string::npos);
  }
  testing::TempDir bare;  // nothing at all yet
  const std::string page = render_html_report(bare.path());
  EXPECT_NE(page.find("no data yet"), std::string::npos);
  EXPECT_NE(page.find("no sample grids yet"), std::string::npos);
  EXPECT_NE(page.find("no checkpoints yet"), std::string::npos);
}

TEST(HtmlReport, NeedsNoNetwork) {
  testing::TempDir run;
  make_run(run.path());
  const std::string page = render_html_report(run.path());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find("src=\"http"), std::string::npos);
  EXPECT_EQ(page.find("href=\"http"), std::string::npos);
  EXPECT_EQ(page.find("url("), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
}

TEST(HtmlReport, WriteCreatesReportHtml) {
  testing::TempDir run;
  make_run(run.path());
  const fs::path path = write_html_report(run.path());
  EXPECT_EQ(path, run.path() / "report.html");
  std::ifstream stream(path);
  const std::string text((std::istreambuf_iterator<char>(stream)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("data-chart=\"discriminators\""), std::string::npos);
  for (const auto& entry : fs::directory_iterator(run.path())) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
}

TEST(HtmlReport, MissingDirectoryIsADataErrorNamingIt) {
  testing::TempDir parent;
  const fs::path missing = parent / "no_such_run";
  try {
    write_html_report(missing);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos) << e.what();
  }
  write_text(parent / "file", "x");
  EXPECT_THROW(write_html_report(parent / "file"), DataError);
  EXPECT_THROW(render_html_report(missing), DataError);
}

}  // namespace
}  // namespace cyclegan

/** Realistic nginx access-log lines (combined format, 150–250 bytes) for the pipeline benchmark. */

const PATHS = ['/api/v1/items', '/api/v1/items/%d', '/api/v1/users/%d/orders', '/static/js/app.%d.js', '/health', '/login', '/api/v2/search?q=term%d&page=2', '/images/products/%d/large.jpg'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148',
  'curl/8.5.0',
  'Go-http-client/1.1',
  'Prometheus/2.53.0',
];
const STATUSES = [200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 404, 500, 502, 503];

/** Deterministic: line n is always the same. */
export function nginxLine(n: number): string {
  const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  const path = PATHS[n % PATHS.length]!.replace('%d', String((n * 7919) % 100000));
  const status = STATUSES[(n * 31) % STATUSES.length]!;
  const bytes = 200 + ((n * 104729) % 50000);
  const ua = AGENTS[(n * 13) % AGENTS.length]!;
  const ms = (n * 37) % 1000;
  const sec = String((n / 1000) % 60 | 0).padStart(2, '0');
  return `${ip} - - [22/Nov/2026:10:15:${sec} +0000] "GET ${path} HTTP/1.1" ${status} ${bytes} "https://shop.example.com/" "${ua}" 0.${String(ms).padStart(3, '0')}`;
}

/** The regex the benchmark's parse agent uses (named groups, like a Vector/Fluent Bit nginx parser). */
export const NGINX_PATTERN =
  '^(?<remote>[^ ]+) (?<host>[^ ]+) (?<user>[^ ]+) \\[(?<time>[^\\]]+)\\] "(?<method>\\S+) (?<path>[^ "]+) (?<protocol>[^"]+)" (?<status>\\d{3}) (?<bytes>\\d+) "(?<referer>[^"]*)" "(?<agent>[^"]*)" (?<rt>[\\d.]+)$';

package io.amirror.control;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.amirror.config.ConfigError;
import io.amirror.control.ControlHttp.Request;
import io.amirror.control.ControlHttp.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Semaphore;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The daemon's local control API, HTTP on a loopback address. Every call but {@code /metrics}
 * needs {@code Authorization: Bearer TOKEN} with the token of {@link ControlEndpoint}; with
 * {@link Options#metricsToken} {@code /metrics} needs it too.
 *
 * <pre>
 * GET  /v1/status          the {@code StatusReport} as JSON ({@code status.schema.json})
 * POST /v1/sync/DOMAIN     run a cycle of DOMAIN now (URL-encoded name); 202, or 404 if no policy covers it
 * POST /v1/verify/DOMAIN   compare the standby's replica of DOMAIN with the primary's record; 200 with the report
 * POST /v1/reload          reread the policies; 200 with the refused files' errors
 * GET  /metrics            Prometheus text format (no token unless "control": {"metricsToken": true})
 * </pre>
 *
 * <p>A web page in a browser on this host can reach a loopback port too, and through DNS rebinding
 * (its own name made to resolve to 127.0.0.1) even read the answers. Its requests carry its own
 * name in {@code Host}, so every request whose {@code Host} is not a loopback name or address
 * ({@code localhost}, {@code 127.x.x.x}, {@code [::1]}, with or without the port), or that has no
 * {@code Host} in HTTP/1.1, is refused with 403 and nothing else. The HTTP layer ({@link ControlHttp})
 * bounds what a connection may cost: a request must arrive whole within a few seconds, and silent or
 * trickling connections take no worker thread.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlServer.class);
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern IPV4_LOOPBACK = Pattern.compile("127\\.([0-9]{1,3})\\.([0-9]{1,3})\\.([0-9]{1,3})");

    /**
     * How the API is served.
     *
     * @param metricsToken whether {@code /metrics} asks for the token like every other call
     * @param http         the HTTP layer's timeouts and bounds
     */
    public record Options(boolean metricsToken, ControlHttp.Limits http) {
        public static final Options DEFAULT = new Options(false, ControlHttp.Limits.DEFAULT);

        public Options withMetricsToken(boolean b) {
            return new Options(b, http);
        }
    }

    private final ControlHttp http;
    private final PrimaryControl service;
    private final Metrics metrics;
    private final ControlEndpoint endpoint;
    private final Options options;
    /** Verifies run for minutes to hours: at most half the workers, so status and sync always find one. */
    private final Semaphore verifies;

    public ControlServer(PrimaryControl service, InetSocketAddress listen, Path stateDir) throws IOException {
        this(service, listen, stateDir, Options.DEFAULT);
    }

    public ControlServer(PrimaryControl service, InetSocketAddress listen, Path stateDir, Options options)
            throws IOException {
        if (!listen.getAddress().isLoopbackAddress()) {
            throw new IllegalArgumentException("the control API listens on loopback only, not on " + listen);
        }
        this.service = service;
        this.options = options;
        this.metrics = new Metrics(service);
        this.verifies = new Semaphore(Math.max(1, options.http().workers() / 2));
        this.http = new ControlHttp(listen, options.http(), this::handle);
        try {
            String host = listen.getAddress().getHostAddress();
            URI url = URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + http.address().getPort());
            this.endpoint = ControlEndpoint.publish(stateDir, url);
            log.info("control API on {}{}", url, options.metricsToken() ? " (metrics need the token)" : "");
        } catch (IOException | RuntimeException e) {
            http.close();
            throw e;
        }
    }

    public ControlEndpoint endpoint() {
        return endpoint;
    }

    /** Connections the HTTP layer closed: [timed out, evicted for a newer one, refused at accept]. */
    long[] drops() {
        return http.drops();
    }

    /**
     * Whether {@code host}, a request's {@code Host} header, names this host's loopback: {@code
     * localhost}, an address of 127.0.0.0/8 or {@code [::1]}, each with or without a port.
     */
    static boolean loopbackHost(String host) {
        if (host == null || host.isEmpty() || host.length() > 64) {
            return false;
        }
        String name;
        String port = null;
        if (host.startsWith("[")) {
            int end = host.indexOf(']');
            if (end < 0) {
                return false;
            }
            name = host.substring(1, end);
            String rest = host.substring(end + 1);
            if (!rest.isEmpty()) {
                if (!rest.startsWith(":")) {
                    return false;
                }
                port = rest.substring(1);
            }
            if (!name.equals("::1")) {
                return false;
            }
        } else {
            int colon = host.indexOf(':');
            name = colon < 0 ? host : host.substring(0, colon);
            port = colon < 0 ? null : host.substring(colon + 1);
            if (!name.toLowerCase(Locale.ROOT).equals("localhost") && !ipv4Loopback(name)) {
                return false;
            }
        }
        return port == null || (port.matches("[0-9]{1,5}") && Integer.parseInt(port) <= 65535);
    }

    private static boolean ipv4Loopback(String name) {
        Matcher m = IPV4_LOOPBACK.matcher(name);
        if (!m.matches()) {
            return false;
        }
        for (int i = 1; i <= 3; i++) {
            String octet = m.group(i);
            if ((octet.length() > 1 && octet.startsWith("0")) || Integer.parseInt(octet) > 255) {
                return false;
            }
        }
        return true;
    }

    /** The refusal of a request from outside this host's loopback names, or empty when it may go on. */
    static Optional<Response> refuseHost(Request r) {
        List<String> host = r.header("host");
        if (host.size() > 1) {
            return Optional.of(ControlHttp.error(400, "more than one Host header"));
        }
        if (host.isEmpty()) {
            return r.version().equals("HTTP/1.0") ? Optional.empty()
                    : Optional.of(ControlHttp.error(403, "no Host header: the control API answers only requests for "
                    + "localhost, 127.0.0.1 or [::1]"));
        }
        if (!loopbackHost(host.get(0))) {
            return Optional.of(ControlHttp.error(403, "Host '" + ControlHttp.shorten(host.get(0)) + "' is not this "
                    + "host's loopback: the control API answers only requests for localhost, 127.0.0.1 or [::1]"));
        }
        return Optional.empty();
    }

    private Response handle(Request x) {
        Optional<Response> refused = refuseHost(x);
        if (refused.isPresent()) {
            return refused.get();
        }
        String path = x.path();
        String method = x.method();
        try {
            boolean isMetrics = path.equals("/metrics") && method.equals("GET");
            if (!(isMetrics && !options.metricsToken()) && !authorized(x)) {
                return ControlHttp.error(401, "missing or wrong token: send 'Authorization: Bearer' with the token in "
                        + "STATE/control/token");
            }
            if (isMetrics) {
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                metrics.write(out);
                return new Response(200, metrics.contentType(), out.toByteArray());
            }
            if (path.equals("/v1/status") && method.equals("GET")) {
                return reply(200, service.status());
            } else if (path.startsWith("/v1/sync/") && method.equals("POST")) {
                String domain = URLDecoder.decode(path.substring("/v1/sync/".length()), StandardCharsets.UTF_8);
                Optional<Instant> at = service.requestSync(domain);
                if (at.isEmpty()) {
                    return reply(404, Map.of("error", "no policy covers domain '" + domain + "'"));
                }
                return reply(202, Map.of("domain", domain, "requestedAt", at.get().toString()));
            } else if (path.startsWith("/v1/verify/") && method.equals("POST")) {
                String domain = URLDecoder.decode(path.substring("/v1/verify/".length()), StandardCharsets.UTF_8);
                if (!verifies.tryAcquire()) {
                    return ControlHttp.error(503, "as many verify calls as the control API runs at once are running; "
                            + "try again when one has finished");
                }
                try {
                    return reply(200, service.verify(domain));
                } catch (IllegalArgumentException | IllegalStateException | IOException e) {
                    return reply(e instanceof IllegalArgumentException ? 404 : 409, Map.of("error", String.valueOf(e.getMessage())));
                } finally {
                    verifies.release();
                }
            } else if (path.equals("/v1/reload") && method.equals("POST")) {
                List<ConfigError> errors = service.reload();
                return reply(200, Map.of("errors", errors));
            } else {
                return reply(404, Map.of("error", "no such call: " + method + " " + ControlHttp.shorten(path)));
            }
        } catch (Exception e) {
            log.warn("control call failed", e);
            return ControlHttp.error(500, String.valueOf(e.getMessage()));
        }
    }

    private boolean authorized(Request x) {
        List<String> h = x.header("authorization");
        if (h.size() != 1 || !h.get(0).startsWith("Bearer ")) {
            return false;
        }
        return MessageDigest.isEqual(h.get(0).substring(7).trim().getBytes(StandardCharsets.UTF_8),
                endpoint.token().getBytes(StandardCharsets.UTF_8));
    }

    private static Response reply(int code, Object body) throws IOException {
        return new Response(code, "application/json", JSON.writeValueAsBytes(body));
    }

    @Override
    public void close() {
        http.close();
    }
}

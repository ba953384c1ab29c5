package io.amirror.control;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.amirror.config.ConfigError;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;

/**
 * The daemon's local control API, HTTP on a loopback address. Every call but {@code /metrics}
 * needs {@code Authorization: Bearer TOKEN} with the token of {@link ControlEndpoint}.
 *
 * <pre>
 * GET  /v1/status          the {@code StatusReport} as JSON ({@code status.schema.json})
 * POST /v1/sync/DOMAIN     run a cycle of DOMAIN now (URL-encoded name); 202, or 404 if no policy covers it
 * POST /v1/verify/DOMAIN   compare the standby's replica of DOMAIN with the primary's record; 200 with the report
 * POST /v1/reload          reread the policies; 200 with the refused files' errors
 * GET  /metrics            Prometheus text format, no token (loopback only)
 * </pre>
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ControlServer.class);
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final HttpServer http;
    private final PrimaryControl service;
    private final Metrics metrics;
    private final ControlEndpoint endpoint;

    public ControlServer(PrimaryControl service, InetSocketAddress listen, Path stateDir) throws IOException {
        if (!listen.getAddress().isLoopbackAddress()) {
            throw new IllegalArgumentException("the control API listens on loopback only, not on " + listen);
        }
        this.service = service;
        this.metrics = new Metrics(service);
        this.http = HttpServer.create(listen, 16);
        http.setExecutor(Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "control-api");
            t.setDaemon(true);
            return t;
        }));
        http.createContext("/", this::handle);
        http.start();
        String host = listen.getAddress().getHostAddress();
        URI url = URI.create("http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + http.getAddress().getPort());
        this.endpoint = ControlEndpoint.publish(stateDir, url);
        log.info("control API on {}", url);
    }

    public ControlEndpoint endpoint() {
        return endpoint;
    }

    private void handle(HttpExchange x) throws IOException {
        try (x) {
            String path = x.getRequestURI().getRawPath();
            String method = x.getRequestMethod();
            if (path.equals("/metrics") && method.equals("GET")) {
                x.getResponseHeaders().set("Content-Type", metrics.contentType());
                x.sendResponseHeaders(200, 0);
                try (OutputStream out = x.getResponseBody()) {
                    metrics.write(out);
                }
                return;
            }
            if (!authorized(x)) {
                reply(x, 401, Map.of("error", "missing or wrong token: send 'Authorization: Bearer' with the token in "
                        + "STATE/control/token"));
                return;
            }
            if (path.equals("/v1/status") && method.equals("GET")) {
                reply(x, 200, service.status());
            } else if (path.startsWith("/v1/sync/") && method.equals("POST")) {
                String domain = URLDecoder.decode(path.substring("/v1/sync/".length()), StandardCharsets.UTF_8);
                Optional<Instant> at = service.requestSync(domain);
                if (at.isEmpty()) {
                    reply(x, 404, Map.of("error", "no policy covers domain '" + domain + "'"));
                } else {
                    reply(x, 202, Map.of("domain", domain, "requestedAt", at.get().toString()));
                }
            } else if (path.startsWith("/v1/verify/") && method.equals("POST")) {
                String domain = URLDecoder.decode(path.substring("/v1/verify/".length()), StandardCharsets.UTF_8);
                try {
                    reply(x, 200, service.verify(domain));
                } catch (IllegalArgumentException | IllegalStateException | IOException e) {
                    reply(x, e instanceof IllegalArgumentException ? 404 : 409, Map.of("error", String.valueOf(e.getMessage())));
                }
            } else if (path.equals("/v1/reload") && method.equals("POST")) {
                List<ConfigError> errors = service.reload();
                reply(x, 200, Map.of("errors", errors));
            } else {
                reply(x, 404, Map.of("error", "no such call: " + method + " " + path));
            }
        } catch (Exception e) {
            log.warn("control call failed", e);
            try {
                reply(x, 500, Map.of("error", String.valueOf(e.getMessage())));
            } catch (IOException | RuntimeException ignored) {
                // headers already sent
            }
        }
    }

    private boolean authorized(HttpExchange x) {
        String h = x.getRequestHeaders().getFirst("Authorization");
        if (h == null || !h.startsWith("Bearer ")) {
            return false;
        }
        return MessageDigest.isEqual(h.substring(7).trim().getBytes(StandardCharsets.UTF_8),
                endpoint.token().getBytes(StandardCharsets.UTF_8));
    }

    private static void reply(HttpExchange x, int code, Object body) throws IOException {
        byte[] b = JSON.writeValueAsBytes(body);
        x.getResponseHeaders().set("Content-Type", "application/json");
        x.sendResponseHeaders(code, b.length);
        try (OutputStream out = x.getResponseBody()) {
            out.write(b);
        }
    }

    @Override
    public void close() {
        http.stop(0);
    }
}

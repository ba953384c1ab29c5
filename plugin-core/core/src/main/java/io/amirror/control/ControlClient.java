package io.amirror.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/** The CLI's side of the control API ({@link ControlServer}). */
public final class ControlClient {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ControlEndpoint endpoint;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    public ControlClient(ControlEndpoint endpoint) {
        this.endpoint = endpoint;
    }

    public static ControlClient forState(Path stateDir) throws IOException {
        return new ControlClient(ControlEndpoint.read(stateDir));
    }

    /** A call's HTTP status and JSON body. */
    public record Reply(int code, JsonNode body) {
        public String error() {
            return body.path("error").asText("HTTP " + code);
        }
    }

    public Reply status() throws IOException {
        return call("GET", "/v1/status");
    }

    public Reply sync(String domain) throws IOException {
        return call("POST", "/v1/sync/" + URLEncoder.encode(domain, StandardCharsets.UTF_8).replace("+", "%20"));
    }

    /** Runs a verify and waits for its report (reading the replica takes the standby a while). */
    public Reply verify(String domain) throws IOException {
        return call("POST", "/v1/verify/" + URLEncoder.encode(domain, StandardCharsets.UTF_8).replace("+", "%20"),
                Duration.ofHours(6));
    }

    public Reply reload() throws IOException {
        return call("POST", "/v1/reload");
    }

    public String metrics() throws IOException {
        try {
            // the token too, for a daemon whose metrics ask for it ("control": {"metricsToken": true})
            return http.send(HttpRequest.newBuilder(endpoint.url().resolve("/metrics")).timeout(Duration.ofSeconds(30))
                    .header("Authorization", "Bearer " + endpoint.token()).GET().build(),
                    HttpResponse.BodyHandlers.ofString()).body();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    private Reply call(String method, String path) throws IOException {
        return call(method, path, Duration.ofSeconds(60));
    }

    private Reply call(String method, String path, Duration timeout) throws IOException {
        URI u = endpoint.url().resolve(path);
        HttpRequest req = HttpRequest.newBuilder(u).timeout(timeout)
                .header("Authorization", "Bearer " + endpoint.token())
                .method(method, HttpRequest.BodyPublishers.noBody()).build();
        try {
            HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
            return new Reply(r.statusCode(), JSON.readTree(r.body()));
        } catch (ConnectException e) {
            throw new DaemonUnreachableException("the daemon is not answering on " + endpoint.url()
                    + ": is amirror primary running?", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}

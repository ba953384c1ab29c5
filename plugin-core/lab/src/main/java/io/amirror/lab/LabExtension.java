package io.amirror.lab;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * Gives tests the real-VM {@link Lab}: declare a {@code Lab} parameter (constructor, {@code @BeforeAll}
 * or test method) and add {@code @ExtendWith(LabExtension.class)}, or use {@link RealVmTest}.
 *
 * <p>One lab serves the whole test run: it is opened on first use (installing and starting what is
 * missing) and closed, with every domain it still has, when the run ends. If it cannot be opened,
 * every lab test fails with the same clear message; nothing is skipped silently. A developer may
 * leave lab tests out with {@code -Damirror.lab=skip}; CI never does.
 */
public final class LabExtension implements ParameterResolver, ExecutionCondition {

    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(LabExtension.class);

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if ("skip".equals(System.getProperty("amirror.lab"))) {
            return ConditionEvaluationResult.disabled("real-VM lab tests left out by -Damirror.lab=skip");
        }
        return ConditionEvaluationResult.enabled("lab tests run");
    }

    @Override
    public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
        return p.getParameter().getType() == Lab.class;
    }

    @Override
    public Object resolveParameter(ParameterContext p, ExtensionContext e) {
        Holder h = e.getRoot().getStore(NS).getOrComputeIfAbsent(Holder.class, k -> new Holder(), Holder.class);
        return h.get();
    }

    /** Opens the lab once; remembers a failure so later tests report it without retrying for minutes. */
    static final class Holder implements AutoCloseable {
        private Lab lab;
        private RuntimeException failure;

        synchronized Lab get() {
            if (lab == null && failure == null) {
                try {
                    lab = Lab.open(LabOptions.defaults());
                } catch (RuntimeException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw new LabUnavailableException("the real-VM lab is unavailable: " + failure.getMessage(), failure);
            }
            return lab;
        }

        @Override
        public synchronized void close() {
            if (lab != null) {
                lab.close();
            }
        }
    }
}

/**
 * Beyond cosign: the SLSA v1 provenance predicate of a GitHub Actions run, built from the runner's
 * environment as GitHub's own attest-build-provenance action builds it from the run's OIDC claims
 * (buildType `https://actions.github.io/buildtypes/workflow/v1`). Pure: the environment is a parameter.
 */
import { SignetError } from '../errors.js';

export const GITHUB_WORKFLOW_BUILD_TYPE = 'https://actions.github.io/buildtypes/workflow/v1';

const REQUIRED = [
  'GITHUB_SERVER_URL',
  'GITHUB_REPOSITORY',
  'GITHUB_WORKFLOW_REF',
  'GITHUB_EVENT_NAME',
  'GITHUB_REPOSITORY_ID',
  'GITHUB_REPOSITORY_OWNER_ID',
  'GITHUB_REF',
  'GITHUB_SHA',
  'GITHUB_RUN_ID',
  'GITHUB_RUN_ATTEMPT',
] as const;

/** True inside a GitHub Actions job. */
export function inGithubActions(env: Record<string, string | undefined>): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/**
 * The predicate (not the statement) for `attest --type slsaprovenance1` without `--predicate`.
 * `GITHUB_WORKFLOW_REF` (`owner/repo/.github/workflows/x.yml@refs/heads/main`) gives the workflow's path
 * and ref; the builder id is that workflow at that ref, and the invocation the run's attempt.
 */
export function githubActionsProvenance(env: Record<string, string | undefined>): Record<string, unknown> {
  if (!inGithubActions(env)) throw new SignetError('USAGE', 'without --predicate, a provenance predicate can only be built inside GitHub Actions (GITHUB_ACTIONS=true)');
  const missing = REQUIRED.filter((k) => !env[k]);
  if (missing.length > 0) throw new SignetError('USAGE', `cannot build the provenance predicate: the runner environment lacks ${missing.join(', ')}`);
  const server = env.GITHUB_SERVER_URL!.replace(/\/+$/, '');
  const repository = env.GITHUB_REPOSITORY!;
  const workflowRef = env.GITHUB_WORKFLOW_REF!;
  const at = workflowRef.lastIndexOf('@');
  const prefix = `${repository}/`;
  if (at < 0 || !workflowRef.startsWith(prefix)) throw new SignetError('USAGE', `GITHUB_WORKFLOW_REF "${workflowRef}" is not ${repository}/<path>@<ref>`);
  const path = workflowRef.slice(prefix.length, at);
  const ref = workflowRef.slice(at + 1);
  return {
    buildDefinition: {
      buildType: GITHUB_WORKFLOW_BUILD_TYPE,
      externalParameters: { workflow: { ref, repository: `${server}/${repository}`, path } },
      internalParameters: {
        github: {
          event_name: env.GITHUB_EVENT_NAME,
          repository_id: env.GITHUB_REPOSITORY_ID,
          repository_owner_id: env.GITHUB_REPOSITORY_OWNER_ID,
          ...(env.RUNNER_ENVIRONMENT ? { runner_environment: env.RUNNER_ENVIRONMENT } : {}),
        },
      },
      resolvedDependencies: [{ uri: `git+${server}/${repository}@${env.GITHUB_REF}`, digest: { gitCommit: env.GITHUB_SHA } }],
    },
    runDetails: {
      builder: { id: `${server}/${workflowRef}` },
      metadata: { invocationId: `${server}/${repository}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT}` },
    },
  };
}

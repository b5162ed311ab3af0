// Publishes the mesh CA's certificate as the ConfigMap roam-ca (key ca.pem) in the control plane's namespace, so
// Roam's own hosts mount it as their ROAM_CA: the certificate is public, and the CA settled on first start (or
// brought by the operator) is known only once the control plane runs. Every replica issues from the same CA,
// so whichever writes first, the content is the same.
import { Agent, request } from 'undici';

export const CA_CONFIGMAP = 'roam-ca';
export const CA_CONFIGMAP_KEY = 'ca.pem';

export interface KubeApi {
  apiServer: string;
  namespace: string;
  token: () => string;
  ca?: string;
}

/** Creates roam-ca or brings it up to date; says what it did. Throws with the API server's reason. */
export async function publishCaConfigMap(
  api: KubeApi,
  caPem: string,
): Promise<'created' | 'updated' | 'unchanged'> {
  const agent = new Agent({ connect: api.ca ? { ca: api.ca } : {} });
  const base = `${api.apiServer}/api/v1/namespaces/${encodeURIComponent(api.namespace)}/configmaps`;
  const call = async (method: 'GET' | 'POST' | 'PUT', url: string, body?: unknown) => {
    const res = await request(url, {
      method,
      dispatcher: agent,
      headers: {
        authorization: `Bearer ${api.token()}`,
        accept: 'application/json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : null,
      headersTimeout: 5000,
      bodyTimeout: 5000,
    });
    const text = await res.body.text();
    if (res.statusCode >= 300 && res.statusCode !== 404 && res.statusCode !== 409) {
      throw new Error(
        `${method} configmaps/${CA_CONFIGMAP} answered ${res.statusCode}: ${text.slice(0, 300)}`,
      );
    }
    // biome-ignore lint/suspicious/noExplicitAny: only metadata.resourceVersion and data are read.
    return { status: res.statusCode, object: res.statusCode < 300 ? (JSON.parse(text) as any) : undefined };
  };
  try {
    const configMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: CA_CONFIGMAP, labels: { 'app.kubernetes.io/part-of': 'roam' } },
      data: { [CA_CONFIGMAP_KEY]: caPem },
    };
    const current = await call('GET', `${base}/${CA_CONFIGMAP}`);
    if (current.status === 404) {
      // 409: another replica created it in between, with the same CA.
      return (await call('POST', base, configMap)).status === 409 ? 'unchanged' : 'created';
    }
    if (current.object.data?.[CA_CONFIGMAP_KEY] === caPem) return 'unchanged';
    const resourceVersion = current.object.metadata.resourceVersion;
    const put = await call('PUT', `${base}/${CA_CONFIGMAP}`, {
      ...configMap,
      metadata: { ...configMap.metadata, resourceVersion },
    });
    return put.status === 409 ? 'unchanged' : 'updated';
  } finally {
    await agent.close();
  }
}

{{/* Names ------------------------------------------------------------------------------- */}}
{{- define "solace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "solace.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "solace.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: call with (dict "root" $ "component" "risk") ------------------------------------ */}}
{{- define "solace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "solace.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "solace.labels" -}}
helm.sh/chart: {{ include "solace.chart" .root }}
{{ include "solace.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: solace
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Images: call with (dict "image" .Values.image "root" $) -------------------------------- */}}
{{- define "solace.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if .image.digest -}}
{{- printf "%s:%s@%s" .image.repository $tag .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Config object names ---------------------------------------------------------------------- */}}
{{- define "solace.settingsConfigMap" -}}{{ include "solace.fullname" . }}-settings{{- end -}}
{{- define "solace.safetyConfigMap" -}}{{ include "solace.fullname" . }}-safety{{- end -}}
{{- define "solace.crisisConfigMap" -}}{{ include "solace.fullname" . }}-crisis-resources{{- end -}}

{{/* Checksums that roll pods when their configuration changes. ----------------------------- */}}
{{- define "solace.configChecksums" -}}
checksum/settings: {{ toJson .Values.settings | sha256sum }}
checksum/safety: {{ toJson .Values.safety | sha256sum }}
checksum/crisis: {{ toJson .Values.crisisResources | sha256sum }}
{{- end -}}

{{/* Environment shared by every Solace container: call with (dict "root" $ "service" "risk") -- */}}
{{- define "solace.env" -}}
{{- $v := .root.Values -}}
- name: HOME
  value: /tmp
# Serve's proxy and handles reach replicas over gRPC: every Ray process must agree.
- name: RAY_SERVE_USE_GRPC_BY_DEFAULT
  value: "1"
- name: SOLACE_METRICS_PORT
  value: {{ $v.metrics.port | quote }}
- name: SOLACE_SAFETY_CONFIG
  value: /etc/solace/safety/safety.yaml
- name: SOLACE_CRISIS_RESOURCES_FILE
  value: /etc/solace/crisis/crisis-resources.yaml
- name: SOLACE_API_KEYS_FILE
  value: /etc/solace/api-keys/{{ $v.secrets.apiKeys.key }}
# The durable audit store of escalations (its outbox lives in the same database).
- name: SOLACE_ESCALATION_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.auditStoreUrl.existingSecret }}
      key: {{ $v.secrets.auditStoreUrl.key }}
{{- if $v.secrets.redisUrl.existingSecret }}
- name: SOLACE_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.secrets.redisUrl.existingSecret }}
      key: {{ $v.secrets.redisUrl.key }}
{{- end }}
{{- if $v.tracing.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.tracing.otlpEndpoint | quote }}
- name: OTEL_SERVICE_NAME
  value: {{ printf "solace-%s" .service | quote }}
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "solace.envFrom" -}}
- configMapRef:
    name: {{ include "solace.settingsConfigMap" . }}
{{- end -}}

{{- define "solace.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: safety
  mountPath: /etc/solace/safety
  readOnly: true
- name: crisis
  mountPath: /etc/solace/crisis
  readOnly: true
- name: api-keys
  mountPath: /etc/solace/api-keys
  readOnly: true
{{- end -}}

{{- define "solace.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
- name: safety
  configMap:
    name: {{ include "solace.safetyConfigMap" . }}
- name: crisis
  configMap:
    name: {{ include "solace.crisisConfigMap" . }}
- name: api-keys
  secret:
    secretName: {{ .Values.secrets.apiKeys.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.secrets.apiKeys.key }}
        path: {{ .Values.secrets.apiKeys.key }}
{{- end -}}

{{/* The model volume of a Ray worker group (rayService.gpuWorkers.modelVolume; no other group
has one): a PersistentVolumeClaim of model weights, mounted read-only. Call with the group's
modelVolume (nil or disabled: nothing). -------------------------------------------------------- */}}
{{- define "solace.modelVolumeMounts" -}}
{{- if and . .enabled -}}
- name: models
  mountPath: {{ .mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{- define "solace.modelVolumes" -}}
{{- if and . .enabled -}}
- name: models
  persistentVolumeClaim:
    claimName: {{ .existingClaim }}
    readOnly: true
{{- end }}
{{- end -}}

{{/* Topology spread: call with (dict "root" $ "component" "risk") --------------------------- */}}
{{- define "solace.topologySpread" -}}
{{- $ts := .root.Values.topologySpread -}}
{{- if $ts.enabled }}
topologySpreadConstraints:
{{- range $ts.topologyKeys }}
  - maxSkew: {{ $ts.maxSkew }}
    topologyKey: {{ . }}
    whenUnsatisfiable: {{ $ts.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "solace.selectorLabels" $ | nindent 8 }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Peers as a YAML list, for NetworkPolicy rules. ------------------------------------------ */}}
{{- define "solace.egressCommon" -}}
{{- $np := .Values.networkPolicy -}}
{{- with $np.dns }}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: UDP, port: 53}
    - {protocol: TCP, port: 53}
{{- end }}
{{- if and .Values.tracing.otlpEndpoint $np.otlp.peers }}
- to:
    {{- toYaml $np.otlp.peers | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ $np.otlp.port }}}
{{- end }}
{{- with $np.postgres.peers }}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ $np.postgres.port }}}
{{- end }}
{{- with $np.redis.peers }}
- to:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ $np.redis.port }}}
{{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* One NetworkPolicy rule to or from the pods of one component on one port: call with
(dict "root" $ "direction" "to" "component" "risk" "port" 50052) ----------------------------- */}}
{{- define "solace.podPeerRule" -}}
- {{ .direction }}:
    - podSelector:
        matchLabels:
          {{- include "solace.selectorLabels" (dict "root" .root "component" .component) | nindent 10 }}
  ports:
    - {protocol: TCP, port: {{ .port }}}
{{- end -}}

{{- define "solace.standaloneIngress" -}}
{{- $np := .root.Values.networkPolicy -}}
{{- with $np.clients }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ $.port }}}
{{- end }}
{{- with $np.monitoring }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - {protocol: TCP, port: {{ $.root.Values.metrics.port }}}
{{- end }}
{{- end -}}

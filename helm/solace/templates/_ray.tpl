{{/*
"true" when the Serve app is colocated (rayService.args.serve_topology, the application's
default): the app binds the Support ingress alone, which runs the four services in its replicas.
*/}}
{{- define "solace.serveColocated" -}}
{{- eq (toString (index (.Values.rayService.args | default dict) "serve_topology" | default "colocated")) "colocated" -}}
{{- end -}}

{{/*
The Serve config (serveConfigV2) generated from rayService values.
*/}}
{{- define "solace.serveConfig" -}}
{{- $rs := .Values.rayService -}}
{{- $deployments := list -}}
{{- /* Colocated, the app binds the Support ingress alone: list no other deployment. */ -}}
{{- $colocated := eq (include "solace.serveColocated" .) "true" -}}
{{- range $name, $d := $rs.deployments -}}
{{- if or (not $colocated) (eq $name "SupportIngress") -}}
{{- $actor := dict "num_cpus" $d.numCpus -}}
{{- if gt (float64 $d.numGpus) 0.0 }}{{ $_ := set $actor "num_gpus" $d.numGpus }}{{ end -}}
{{- $dep := dict "name" $name "max_ongoing_requests" $d.maxOngoingRequests "ray_actor_options" $actor -}}
{{- if $d.autoscaling.enabled -}}
{{- $_ := set $dep "autoscaling_config" (dict "min_replicas" $d.autoscaling.minReplicas "max_replicas" $d.autoscaling.maxReplicas "target_ongoing_requests" $d.autoscaling.targetOngoingRequests) -}}
{{- else -}}
{{- $_ := set $dep "num_replicas" $d.numReplicas -}}
{{- end -}}
{{- $deployments = append $deployments $dep -}}
{{- end -}}
{{- end -}}
{{- $app := dict "name" $rs.applicationName "import_path" $rs.importPath "route_prefix" "/" "args" $rs.args "deployments" $deployments -}}
{{- $cfg := dict
      "proxy_location" "EveryNode"
      "http_options" (dict "host" "0.0.0.0" "port" $rs.httpPort)
      "grpc_options" (dict "port" $rs.grpcPort "grpc_servicer_functions" $rs.grpcServicerFunctions "enable_reflection" false)
      "applications" (list $app) -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/*
A Ray pod template. Call with (dict "root" $ "component" "ray-head" "group" $values "image" $image
"head" true|false "gpus" N).
*/}}
{{- define "solace.rayPodTemplate" -}}
{{- $root := .root -}}
{{- $rs := $root.Values.rayService -}}
{{- $g := .group -}}
metadata:
  labels:
    {{- include "solace.labels" (dict "root" $root "component" .component) | nindent 4 }}
    solace.ai/ray: "true"
  annotations:
    {{- include "solace.configChecksums" $root | nindent 4 }}
spec:
  serviceAccountName: {{ include "solace.fullname" $root }}-ray
  automountServiceAccountToken: {{ and .head $rs.autoscaler.enabled }}
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  {{- include "solace.topologySpread" (dict "root" $root "component" .component) | nindent 2 }}
  {{- with $g.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $g.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: 60
  containers:
    - name: {{ .component }}
      image: {{ include "solace.image" (dict "image" .image "root" $root) }}
      imagePullPolicy: {{ .image.pullPolicy }}
      securityContext:
        {{- toYaml $root.Values.containerSecurityContext | nindent 8 }}
      ports:
        {{- if .head }}
        - {name: gcs, containerPort: 6379}
        - {name: dashboard, containerPort: 8265}
        - {name: client, containerPort: 10001}
        {{- end }}
        - {name: serve, containerPort: {{ $rs.httpPort }}}
        - {name: grpc, containerPort: {{ $rs.grpcPort }}}
        - {name: metrics, containerPort: 8080}
        - {name: solace-metrics, containerPort: {{ $root.Values.metrics.port }}}
      env:
        - name: SOLACE_GRPC_PORT
          value: {{ $rs.grpcPort | quote }}
        {{- if eq $rs.authMode "disabled" }}
        - name: RAY_AUTH_MODE
          value: disabled
        {{- end }}
        {{- include "solace.env" (dict "root" $root "service" "router") | nindent 8 }}
      envFrom:
        {{- include "solace.envFrom" $root | nindent 8 }}
      {{- if .head }}
      livenessProbe:
        {{- toYaml $g.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml $g.readinessProbe | nindent 8 }}
      {{- else }}
      livenessProbe:
        {{- toYaml $rs.workerLivenessProbe | nindent 8 }}
      readinessProbe:
        {{- toYaml $rs.workerReadinessProbe | nindent 8 }}
      {{- end }}
      resources:
        {{- $res := deepCopy $g.resources -}}
        {{- if gt (int .gpus) 0 }}
        {{- $limits := default (dict) $res.limits }}
        {{- $_ := set $limits "nvidia.com/gpu" (toString .gpus) }}
        {{- $_ := set $res "limits" $limits }}
        {{- end }}
        {{- toYaml $res | nindent 8 }}
      volumeMounts:
        {{- include "solace.volumeMounts" $root | nindent 8 }}
        {{- with include "solace.modelVolumeMounts" $g.modelVolume }}{{ . | nindent 8 }}{{ end }}
  volumes:
    {{- include "solace.volumes" $root | nindent 4 }}
    {{- with include "solace.modelVolumes" $g.modelVolume }}{{ . | nindent 4 }}{{ end }}
{{- end -}}

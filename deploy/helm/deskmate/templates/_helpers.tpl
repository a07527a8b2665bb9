{{/* Names: <release>-deskmate (or the release name when it already says deskmate), then -<component>. */}}
{{- define "deskmate.fullname" -}}
{{- if contains "deskmate" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-deskmate" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "deskmate.name" -}}
{{- printf "%s-%s" (include "deskmate.fullname" .root) .component -}}
{{- end -}}

{{- define "deskmate.selectorLabels" -}}
app.kubernetes.io/name: deskmate
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "deskmate.labels" -}}
{{ include "deskmate.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: deskmate
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "deskmate.secretName" -}}
{{- .Values.secret.name | default (include "deskmate.fullname" .) -}}
{{- end -}}

{{/* The image of a component: backend (api, worker, migrations) or rasa (rasa, actions). */}}
{{- define "deskmate.image" -}}
{{- $image := index .root.Values.image .kind -}}
{{- printf "%s:%s" $image.repository ($image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{- define "deskmate.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.fsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "deskmate.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* A secret variable of the release's Secret, by key. */}}
{{- define "deskmate.secretEnv" -}}
- name: {{ .key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "deskmate.secretName" .root }}
      key: {{ .key }}
{{- end -}}

{{- define "deskmate.redisHost" -}}
{{- if .Values.redis.enabled -}}
{{- include "deskmate.name" (dict "root" . "component" "redis") -}}
{{- else -}}
{{- required "redis.external.host is required when redis.enabled is false (the Rasa lock store)" .Values.redis.external.host -}}
{{- end -}}
{{- end -}}

{{/* The scheduling and image-pull parts of a pod spec, from a component's values. */}}
{{- define "deskmate.podPlacement" -}}
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "deskmate.podMeta" -}}
labels:
  {{- include "deskmate.selectorLabels" . | nindent 2 }}
  {{- with .root.Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
annotations:
  checksum/config: {{ include (print .root.Template.BasePath "/config.yaml") .root | sha256sum }}
  {{- with .extra }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with .root.Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The keys the backend (api, worker, migrations) cannot start without in production (api/settings.py), named
one by one so a missing key stops the pod with the key's name; envFrom brings the optional ones. */}}
{{- define "deskmate.backendSecretEnv" -}}
{{- range $i, $key := list "DATABASE_URL" "DESKMATE_ASSERTION_KEY" "DESKMATE_RASA_CHANNEL_SECRET" "DESKMATE_ACTIONS_SECRET" }}
{{- if $i }}{{ "\n" }}{{ end }}
{{- include "deskmate.secretEnv" (dict "root" $ "key" $key) }}
{{- end }}
{{- end -}}

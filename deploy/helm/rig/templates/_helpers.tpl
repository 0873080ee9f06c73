{{- define "rig.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rig.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rig.labels" -}}
{{ include "rig.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* A port from deployment.env, else RIG's default. */}}
{{- define "rig.port" -}}
{{- $env := .root.Values.deployment.env | default dict -}}
{{- index $env .name | default .default | int -}}
{{- end -}}

{{- define "rig.secretName" -}}
{{- .Values.cluster.existingSecret | default (printf "%s-cookie" (include "rig.fullname" .)) -}}
{{- end -}}
